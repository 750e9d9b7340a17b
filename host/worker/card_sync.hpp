// Custom model cards as cluster state (API.md: AddCustomModelCard ->
// CustomModelCardAdded; "nodes persist locally"). The replicated State
// carries every custom card's TOML text; this listener makes each node's
// custom cards dir follow it, so /v1/models is the same on every node and
// a restart keeps the cards (the dir is reloaded at start).
#pragma once

#include "cards/card_store.hpp"
#include "cluster/node.hpp"

#include <chrono>
#include <string>

namespace skulk::worker {

// Registers the listener (before node.start()). On CustomModelCardAdded /
// CustomModelCardDeleted it writes / removes the file; on a snapshot or a new
// session it writes every card of the State this node lacks. Cards that only
// this node's dir holds are kept (a node never deletes on a snapshot: its dir
// may be newer than a cluster it just joined). Runs on the cluster thread:
// a card is a few hundred bytes, written once per event.
void attach_card_sync(cluster::Node &node, cards::CardStore &store);

// Waits (polling, with a deadline) until this node's store has applied what
// the master accepted: the card present with `toml` as its text (add), or
// gone (delete: toml null).
bool wait_for_card(const cards::CardStore &store, const std::string &model_id, const std::string *toml,
                   std::chrono::milliseconds deadline);

} // namespace skulk::worker
