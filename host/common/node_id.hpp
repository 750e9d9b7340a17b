// Node ids are per session: a fresh random id each time the daemon starts,
// so a restarted node is a new member and never inherits stale state.
#pragma once
#include <string>

namespace skulk {
std::string make_node_id();
}
