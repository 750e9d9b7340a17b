// Stable names of enums, events and commands (wire, log, /events, /state).
#include "state/commands.hpp"
#include "state/events.hpp"

#include <array>
#include <utility>

namespace skulk::state {
namespace {

constexpr std::array<std::pair<RunnerPhase, const char *>, 11> kPhases{{
    {RunnerPhase::Idle, "Idle"},           {RunnerPhase::Connecting, "Connecting"},
    {RunnerPhase::Connected, "Connected"}, {RunnerPhase::Loading, "Loading"},
    {RunnerPhase::Loaded, "Loaded"},       {RunnerPhase::WarmingUp, "WarmingUp"},
    {RunnerPhase::Ready, "Ready"},         {RunnerPhase::Running, "Running"},
    {RunnerPhase::ShuttingDown, "ShuttingDown"}, {RunnerPhase::Shutdown, "Shutdown"},
    {RunnerPhase::Failed, "Failed"},
}};
constexpr std::array<std::pair<TaskStatus, const char *>, 4> kTaskStatuses{{
    {TaskStatus::Pending, "Pending"}, {TaskStatus::Running, "Running"},
    {TaskStatus::Complete, "Complete"}, {TaskStatus::Failed, "Failed"},
}};

constexpr std::array<std::pair<Refusal, const char *>, 5> kRefusals{{
    {Refusal::none, "none"}, {Refusal::invalid, "invalid"}, {Refusal::not_found, "not_found"},
    {Refusal::conflict, "conflict"}, {Refusal::unavailable, "unavailable"},
}};

template <class Enum, size_t N>
const char *name_of(const std::array<std::pair<Enum, const char *>, N> &table, Enum v) {
    for (const auto &[e, n] : table)
        if (e == v) return n;
    return "?";
}
template <class Enum, size_t N>
bool parse_name(const std::array<std::pair<Enum, const char *>, N> &table, const std::string &s, Enum &out) {
    for (const auto &[e, n] : table)
        if (s == n) { out = e; return true; }
    return false;
}

template <class... Ts> struct overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> overloaded(Ts...) -> overloaded<Ts...>; // clang < 17 does not deduce aggregates (the wire fuzzer is built with clang)

} // namespace

const char *to_string(RunnerPhase p) { return name_of(kPhases, p); }
bool parse_runner_phase(const std::string &s, RunnerPhase &out) { return parse_name(kPhases, s, out); }
const char *to_string(TaskStatus s) { return name_of(kTaskStatuses, s); }
bool parse_task_status(const std::string &s, TaskStatus &out) { return parse_name(kTaskStatuses, s, out); }

const char *to_string(Refusal r) { return name_of(kRefusals, r); }
Refusal refusal_from_string(std::string_view name) {
    Refusal r = Refusal::invalid;
    return parse_name(kRefusals, std::string(name), r) ? r : Refusal::invalid;
}

const char *event_name(const EventBody &body) {
    return std::visit(overloaded{
        [](const SessionStarted &) { return "SessionStarted"; },
        [](const NodeJoined &) { return "NodeJoined"; },
        [](const NodeLeft &) { return "NodeLeft"; },
        [](const NodeTimedOut &) { return "NodeTimedOut"; },
        [](const InstanceCreated &) { return "InstanceCreated"; },
        [](const InstanceDeleted &) { return "InstanceDeleted"; },
        [](const RunnerStatusUpdated &) { return "RunnerStatusUpdated"; },
        [](const TaskCreated &) { return "TaskCreated"; },
        [](const TaskFinished &) { return "TaskFinished"; },
        [](const TaskFailed &) { return "TaskFailed"; },
        [](const CustomModelCardAdded &) { return "CustomModelCardAdded"; },
        [](const CustomModelCardDeleted &) { return "CustomModelCardDeleted"; },
    }, body);
}

const char *command_name(const CommandBody &body) {
    return std::visit(overloaded{
        [](const PlaceInstance &) { return "PlaceInstance"; },
        [](const DeleteInstance &) { return "DeleteInstance"; },
        [](const CreateTask &) { return "CreateTask"; },
        [](const FinishTask &) { return "FinishTask"; },
        [](const FailTask &) { return "FailTask"; },
        [](const ReportRunnerStatus &) { return "ReportRunnerStatus"; },
        [](const AddCustomModelCard &) { return "AddCustomModelCard"; },
        [](const DeleteCustomModelCard &) { return "DeleteCustomModelCard"; },
    }, body);
}

} // namespace skulk::state
