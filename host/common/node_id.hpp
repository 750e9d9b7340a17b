// Fresh random ids (UUID layout) for commands, instances, tasks and runner
// incarnations. A node's own id is NOT one of these: it is lasting, derived
// from the key pair in <data-dir>/identity/ (cluster/identity.hpp), so a
// restarted node is the same member.
#pragma once
#include <string>

namespace skulk {
std::string make_node_id();
}
