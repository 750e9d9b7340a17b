// The planner's inputs read from a live node: every member with its latest
// telemetry reading and the memory promised to instances still loading.
// Shared by the placement routes and the worker (re-placing a refused shard).
#pragma once

#include "cards/card_store.hpp"
#include "cluster/node.hpp"
#include "placement/planner.hpp"

#include <vector>

namespace skulk::placement {

std::vector<NodeFacts> node_facts(const cluster::View &v, const cards::CardStore &cards);

} // namespace skulk::placement
