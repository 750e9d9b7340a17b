// The planner's inputs read from a live node: every member with its latest
// telemetry reading and the memory promised to instances still loading.
// Read above the cluster (this folder), so placement/ itself stays pure.
#pragma once

#include "cards/card_store.hpp"
#include "cluster/node.hpp"
#include "placement/planner.hpp"

#include <vector>

namespace skulk::placing {

std::vector<placement::NodeFacts> node_facts(const cluster::View &v, const cards::CardStore &cards);

} // namespace skulk::placing
