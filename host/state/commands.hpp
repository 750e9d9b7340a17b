// Commands: requests sent to the master. The master validates each one and
// answers with the events it indexed, or with a reason it refused.
#pragma once

#include "state/types.hpp"

#include <variant>

namespace skulk::state {

// Place one instance of a model. Empty node_ids: the master chooses.
// Non-empty shards: a layout the placement planner made (host/placement);
// the master re-checks its structure and membership and uses it as is.
struct PlaceInstance {
    std::string model_id;
    std::vector<NodeId> node_ids;
    std::string sharding = "Pipeline";
    std::vector<ShardAssignment> shards;
    int64_t context_token_limit = 0;
    bool self_heal = true;  // Instance::self_heal
    InstanceId replaces;    // non-empty: re-places this entry of State::replacing (refused when it is not there)
};
// failed: the instance broke (a pipeline rank's runner failed), so it is
// re-placed when its policy allows. An id in State::replacing gives that
// re-placement up (reason says why).
struct DeleteInstance {
    InstanceId instance_id;
    bool failed = false;
    std::string reason;
};
struct CreateTask { TaskId task_id; InstanceId instance_id; };
struct FinishTask { TaskId task_id; };
struct FailTask { TaskId task_id; std::string error_message; };
struct ReportRunnerStatus { RunnerStatus status; };
// The API node has validated the TOML already; the master checks the id only.
struct AddCustomModelCard { CustomCard card; };
struct DeleteCustomModelCard { std::string model_id; };

using CommandBody = std::variant<PlaceInstance, DeleteInstance, CreateTask, FinishTask, FailTask, ReportRunnerStatus,
                                 AddCustomModelCard, DeleteCustomModelCard>;

struct Command {
    std::string command_id;
    NodeId origin;
    CommandBody body;
};

const char *command_name(const CommandBody &body);

} // namespace skulk::state
