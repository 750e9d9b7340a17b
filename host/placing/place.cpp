#include "placing/place.hpp"

#include "cards/model_files.hpp"
#include "placing/cluster_facts.hpp"

#include <algorithm>
#include <thread>

namespace skulk::placing {
namespace {

using namespace std::chrono_literals;
constexpr auto kInfoPoll = 200ms;

// A shard planned on this node will open the card's model file here: a file
// that is missing or not a GGUF is refused now, in the answer, rather than
// found by a runner that then fails to load (and only the log says why).
// Files on other nodes are theirs to check.
std::string local_model_file_problem(const cards::ModelCard &card, const std::vector<state::ShardAssignment> &shards,
                                     const std::string &self_id) {
    if (!card.source.is_local()) return "";
    for (const auto &s : shards)
        if (s.node_id == self_id) return cards::check_model_file(card.source.path);
    return "";
}

Placed failed(Failure f, std::string message) {
    Placed p;
    p.failure = f;
    p.message = std::move(message);
    return p;
}

// Plans until the plan is final: waits (bounded) for missing telemetry, and
// plans again without nodes whose data dir is full.
Placed plan_layout(cluster::Node &node, const cards::CardStore &cards, const placement::ModelFacts &facts,
                   const Request &req) {
    const auto deadline = std::chrono::steady_clock::now() + req.info_wait;
    placement::Request r = req.plan;
    std::string disk_why; // nodes left out for a full data dir
    for (;;) {
        const auto view = node.view();
        const auto nodes = node_facts(view, cards);
        if (!req.pinned.empty()) // pinned: every other member is out
            for (const auto &n : nodes)
                if (std::find(req.pinned.begin(), req.pinned.end(), n.node_id) == req.pinned.end()) r.excluded.insert(n.node_id);
        const auto o = placement::plan(facts, nodes, r);
        if (o.ok()) {
            const auto full = short_of_disk(o.plan->instance.shards, view, disk_why);
            if (!full.empty()) { // each round leaves out at least one more node
                r.excluded.insert(full.begin(), full.end());
                continue;
            }
            Placed p;
            p.instance = o.plan->instance;
            return p;
        }
        const bool pending = o.kind == placement::FailureKind::InfoPending;
        if (pending && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(kInfoPoll); // waiting for telemetry, bounded by info_wait
            continue;
        }
        if (!disk_why.empty()) return failed(Failure::data_dir_full, disk_why + "; leaving them out: " + o.message);
        Placed p = failed(pending ? Failure::info_pending : Failure::plan, o.message);
        p.plan_kind = o.kind;
        return p;
    }
}

} // namespace

std::vector<std::string> short_of_disk(const std::vector<state::ShardAssignment> &shards, const cluster::View &view,
                                       std::string &why) {
    std::vector<std::string> out;
    for (const auto &s : shards) {
        auto t = view.telemetry.find(s.node_id);
        if (t == view.telemetry.end() || t->second.reading.disk_total == 0) continue; // unknown: the planner waits for it
        const uint64_t free_bytes = t->second.reading.disk_available;
        if (free_bytes >= kRunnerFilesFloor || std::find(out.begin(), out.end(), s.node_id) != out.end()) continue;
        out.push_back(s.node_id);
        why += (why.empty() ? "" : "; ") + std::string("node ") + s.node_id + "'s data dir has " + std::to_string(free_bytes) +
               " bytes free, below the " + std::to_string(kRunnerFilesFloor) + " a runner needs for its files";
    }
    return out;
}

const char *to_string(Failure f) {
    switch (f) {
    case Failure::none: return "none";
    case Failure::no_card: return "no_card";
    case Failure::plan: return "plan";
    case Failure::info_pending: return "info_pending";
    case Failure::data_dir_full: return "data_dir_full";
    case Failure::model_file: return "model_file";
    case Failure::unavailable: return "unavailable";
    case Failure::refused: return "refused";
    }
    return "?";
}

Placed place(cluster::Node &node, const cards::CardStore &cards, const Request &req) {
    const auto card = cards.find(req.model_id);
    if (!card) return failed(Failure::no_card, "no model card for " + req.model_id);
    Placed out = plan_layout(node, cards, placement::model_facts(*card), req);
    if (!out.ok()) return out;
    if (auto why = local_model_file_problem(*card, out.instance.shards, node.view().self_id); !why.empty())
        return failed(Failure::model_file, "cannot place " + req.model_id + ": " + why);

    state::PlaceInstance cmd;
    cmd.model_id = req.model_id;
    cmd.sharding = out.instance.sharding;
    cmd.shards = out.instance.shards;
    cmd.context_token_limit = out.instance.context_token_limit;
    cmd.self_heal = req.self_heal;
    cmd.replaces = req.replaces;
    const auto r = node.submit(cmd, req.submit_timeout);
    out.command_id = r.command_id;
    if (!r.ok) {
        out.failure = r.refusal == state::Refusal::unavailable ? Failure::unavailable : Failure::refused;
        out.refusal = r.refusal == state::Refusal::none ? state::Refusal::invalid : r.refusal;
        out.message = r.error;
        return out;
    }
    out.instance_id = r.created_ids.empty() ? "" : r.created_ids.front();
    return out;
}

} // namespace skulk::placing
