#include "placement/planner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>

namespace skulk::placement {
namespace {

// How many candidates (best first) the set search considers: C(16, 8) =
// 12870 sets at worst, each a split and a few multiplications.
constexpr size_t kMaxSearchNodes = 16;

std::string join(const std::vector<std::string> &v, const char *sep = ", ") {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
}

bool allowed(const ModelFacts &m, const std::string &tag) {
    return m.compatible_backends.empty() ||
           std::find(m.compatible_backends.begin(), m.compatible_backends.end(), tag) != m.compatible_backends.end();
}

bool offers(const telemetry::Reading &r, const std::string &tag) {
    return std::any_of(r.backends.begin(), r.backends.end(), [&](const auto &b) { return b.tag == tag; });
}

int preference_rank(const ModelFacts &m, const std::string &tag) {
    auto it = std::find(m.backend_preference.begin(), m.backend_preference.end(), tag);
    return int(it - m.backend_preference.begin()); // == size(): not preferred at all
}

struct Candidate {
    const NodeFacts *node = nullptr;
    std::string backend;
    int pref_rank = 0;
    int32_t score = 0;
    uint64_t usable = 0;
};

// Tries one node set: ranks by usable memory (then id), proportional split,
// admission on every node.
struct Trial {
    bool fits = false;
    Plan plan;
    std::vector<std::string> shortfalls; // per-node arithmetic where it does not fit
    uint64_t total_usable = 0;
    long pref_sum = 0;
};

std::string arithmetic(const ModelFacts &m, const std::string &node, int layers, uint64_t usable, uint64_t reserved) {
    const Admission a = admission(m, layers);
    const std::string held = reserved ? " (" + human_bytes(reserved) + " more is promised to instances still loading)" : "";
    return "node " + node + " needs " + human_bytes(a.total()) + " for " + std::to_string(layers) + " layer" +
           (layers == 1 ? "" : "s") + " (weights " + human_bytes(a.weights) + " incl. engine overhead + KV " +
           human_bytes(a.kv) + " for " + std::to_string(m.context_tokens) + " tokens + floor " + human_bytes(a.floor) +
           "), has " + human_bytes(usable) + " usable" + held;
}

// explain: write the per-node arithmetic of every shortfall (only for the
// set an error message reports; formatting is most of a trial's cost).
Trial try_set(const ModelFacts &m, std::vector<const Candidate *> set, const std::string &sharding, bool explain) {
    std::sort(set.begin(), set.end(), [](const Candidate *a, const Candidate *b) {
        if (a->usable != b->usable) return a->usable > b->usable;
        return a->node->node_id < b->node->node_id;
    });
    std::vector<uint64_t> usable;
    for (const auto *c : set) usable.push_back(c->usable);
    const auto layers = split_layers(int(m.n_layers), usable);
    Trial t;
    t.fits = true;
    t.plan.instance.model_id = m.model_id;
    t.plan.instance.sharding = sharding;
    t.plan.instance.context_token_limit = m.context_tokens;
    int next = 0;
    for (size_t r = 0; r < set.size(); ++r) {
        const auto *c = set[r];
        state::ShardAssignment sh;
        sh.node_id = c->node->node_id;
        sh.rank = int(r);
        sh.world_size = int(set.size());
        sh.first_layer = next;
        sh.last_layer = next + layers[r] - 1;
        sh.backend = c->backend;
        next += layers[r];
        t.plan.instance.shards.push_back(sh);
        const uint64_t need = admission(m, layers[r]).total();
        t.plan.memory_delta_by_node[sh.node_id] = need;
        if (need > c->usable) {
            t.fits = false;
            if (explain) t.shortfalls.push_back(arithmetic(m, sh.node_id, layers[r], c->usable, c->node->reserved_bytes));
        }
        t.total_usable += c->usable;
        t.pref_sum += c->pref_rank;
    }
    return t;
}

// Better of two fitting trials: better preference, then more free memory.
bool better(const Trial &a, const Trial &b) {
    if (a.pref_sum != b.pref_sum) return a.pref_sum < b.pref_sum;
    return a.total_usable > b.total_usable;
}

// Best trial over every set of `k` candidates (the first kMaxSearchNodes).
// Not fitting: the set with the most memory, for the error message.
Trial best_of_size(const ModelFacts &m, const std::vector<Candidate> &cands, size_t k, const std::string &sharding) {
    const size_t n = std::min(cands.size(), kMaxSearchNodes);
    std::optional<Trial> best_fit;
    uint64_t best_miss_usable = 0;
    std::vector<const Candidate *> pick, best_miss;
    std::function<void(size_t)> walk = [&](size_t from) {
        if (pick.size() == k) {
            Trial t = try_set(m, pick, sharding, false);
            if (t.fits) {
                if (!best_fit || better(t, *best_fit)) best_fit = std::move(t);
            } else if (best_miss.empty() || t.total_usable > best_miss_usable) {
                best_miss = pick;
                best_miss_usable = t.total_usable;
            }
            return;
        }
        for (size_t i = from; i + (k - pick.size()) <= n; ++i) {
            pick.push_back(&cands[i]);
            walk(i + 1);
            pick.pop_back();
        }
    };
    walk(0);
    return best_fit ? *best_fit : try_set(m, best_miss, sharding, true);
}

Outcome fail(FailureKind k, std::string msg) {
    Outcome o;
    o.kind = k;
    o.message = std::move(msg);
    return o;
}

// Filters shared by plan() and plan_exact(). Returns the failure, or fills
// `cands` (best first) and returns nullopt.
std::optional<Outcome> candidates(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const Request &req,
                                  std::vector<Candidate> &cands) {
    if (req.sharding == "Tensor") {
        if (!m.supports_tensor)
            return fail(FailureKind::BadRequest, "model " + m.model_id + " does not support Tensor sharding (card: supports_tensor = false)");
        return fail(FailureKind::BadRequest, "Tensor sharding is not implemented yet; use Pipeline");
    }
    if (req.sharding != "Pipeline")
        return fail(FailureKind::BadRequest, "sharding must be \"Pipeline\" or \"Tensor\", got \"" + req.sharding + "\"");
    if (m.n_layers == 0) return fail(FailureKind::BadRequest, "the card of " + m.model_id + " has no n_layers");
    if (m.weight_bytes == 0) return fail(FailureKind::BadRequest, "the card of " + m.model_id + " has no storage_size");
    if (req.min_nodes < 1) return fail(FailureKind::BadRequest, "min_nodes must be at least 1, got " + std::to_string(req.min_nodes));
    if (uint32_t(req.min_nodes) > m.n_layers)
        return fail(FailureKind::BadRequest, "min_nodes " + std::to_string(req.min_nodes) + " exceeds the " +
                                                 std::to_string(m.n_layers) + " layers of " + m.model_id + " (each rank needs a layer)");
    // A daemon that just started has not seen its own join yet: wait, like for telemetry.
    if (nodes.empty()) return fail(FailureKind::InfoPending, "info pending: no cluster members are known yet");

    std::vector<const NodeFacts *> remaining;
    for (const auto &n : nodes)
        if (!req.excluded.count(n.node_id)) remaining.push_back(&n);
    if (remaining.empty()) {
        std::vector<std::string> ids;
        for (const auto &n : nodes) ids.push_back(n.node_id);
        return fail(FailureKind::ExclusionsRemovedAll, "exclusions removed every candidate (members: " + join(ids) + ")");
    }
    std::vector<std::string> pending;
    for (const auto *n : remaining)
        if (!n->has_telemetry) pending.push_back(n->node_id);
    if (!pending.empty())
        return fail(FailureKind::InfoPending, "info pending: no telemetry yet from node" + std::string(pending.size() > 1 ? "s " : " ") + join(pending));

    std::vector<std::string> offered;
    for (const auto *n : remaining) {
        const std::string backend = resolve_backend(m, n->reading);
        if (backend.empty()) {
            std::vector<std::string> tags;
            for (const auto &b : n->reading.backends) tags.push_back(b.tag);
            offered.push_back(n->node_id + ": [" + join(tags) + "]");
            continue;
        }
        int32_t score = 0;
        for (const auto &b : n->reading.backends)
            if (b.tag == backend) score = std::max(score, b.score);
        cands.push_back(Candidate{n, backend, preference_rank(m, backend), score, usable_bytes(*n)});
    }
    if (cands.empty())
        return fail(FailureKind::NoCompatibleBackend, "no node has a compatible backend (card wants [" + join(m.compatible_backends) +
                                                          "]; nodes offer " + join(offered, "; ") + ")");
    if (cands.size() < size_t(req.min_nodes))
        return fail(FailureKind::NotEnoughNodes, "not enough nodes (min_nodes " + std::to_string(req.min_nodes) + ", " +
                                                     std::to_string(cands.size()) + " available)");
    std::sort(cands.begin(), cands.end(), [](const Candidate &a, const Candidate &b) {
        if (a.pref_rank != b.pref_rank) return a.pref_rank < b.pref_rank;
        if (a.score != b.score) return a.score > b.score;
        if (a.usable != b.usable) return a.usable > b.usable;
        return a.node->node_id < b.node->node_id;
    });
    return std::nullopt;
}

Outcome from_trial(const ModelFacts &m, Trial t) {
    if (t.fits) {
        Outcome o;
        o.plan = std::move(t.plan);
        return o;
    }
    return fail(FailureKind::InsufficientMemory, m.model_id + " does not fit on " + std::to_string(t.plan.instance.shards.size()) +
                                                     " node" + (t.plan.instance.shards.size() == 1 ? "" : "s") + ": " + join(t.shortfalls, "; "));
}

} // namespace

uint64_t usable_bytes(const telemetry::Reading &r) {
    return r.gpu_memory_available ? *r.gpu_memory_available : r.ram_available;
}

uint64_t usable_bytes(const NodeFacts &n) {
    const uint64_t u = usable_bytes(n.reading);
    return u > n.reserved_bytes ? u - n.reserved_bytes : 0;
}

std::map<std::string, uint64_t> reservations(const state::State &s,
                                             const std::function<std::optional<ModelFacts>(const std::string &)> &facts_of) {
    std::map<std::string, uint64_t> out;
    for (const auto &[iid, inst] : s.instances) {
        std::optional<ModelFacts> facts;
        bool looked = false;
        for (const auto &sh : inst.shards) {
            bool loaded = false;
            for (const auto &[rid, r] : s.runners) {
                if (r.instance_id != iid || r.node_id != sh.node_id) continue;
                using P = state::RunnerPhase;
                // Loaded and later: the memory shows in the node's reading.
                // Failed / shutting down: it is being given back.
                loaded = r.phase == P::Loaded || r.phase == P::WarmingUp || r.phase == P::Ready || r.phase == P::Running ||
                         r.phase == P::Failed || r.phase == P::ShuttingDown || r.phase == P::Shutdown;
            }
            if (loaded) continue;
            if (!looked) {
                facts = facts_of(inst.model_id);
                looked = true;
            }
            if (!facts || facts->n_layers == 0) continue;
            const int last = sh.last_layer == -1 ? int(facts->n_layers) - 1 : sh.last_layer;
            out[sh.node_id] += admission(*facts, last - sh.first_layer + 1).total();
        }
    }
    return out;
}

const char *to_string(FailureKind k) {
    switch (k) {
    case FailureKind::BadRequest: return "bad_request";
    case FailureKind::InfoPending: return "info_pending";
    case FailureKind::ExclusionsRemovedAll: return "exclusions_removed_all";
    case FailureKind::NoCompatibleBackend: return "no_compatible_backend";
    case FailureKind::NotEnoughNodes: return "not_enough_nodes";
    case FailureKind::InsufficientMemory: return "insufficient_memory";
    }
    return "?";
}

Admission admission(const ModelFacts &m, int layers) {
    Admission a;
    if (m.n_layers == 0 || layers <= 0) return a;
    // Integer percent arithmetic, rounded up: 1.10 is not exact in binary.
    const unsigned __int128 scaled = (unsigned __int128)m.weight_bytes * unsigned(layers) * kGgufEngineOverheadPercent;
    const unsigned __int128 denom = (unsigned __int128)m.n_layers * 100;
    a.weights = uint64_t((scaled + denom - 1) / denom);
    a.kv = m.kv_bytes_per_token / m.n_layers * uint64_t(layers) * m.context_tokens;
    return a;
}

std::string resolve_backend(const ModelFacts &m, const telemetry::Reading &r) {
    for (const auto &p : m.backend_preference)
        if (allowed(m, p) && offers(r, p)) return p;
    const telemetry::BackendOffer *best = nullptr;
    for (const auto &b : r.backends)
        if (allowed(m, b.tag) && (!best || b.score > best->score)) best = &b;
    return best ? best->tag : std::string();
}

std::vector<int> split_layers(int n_layers, const std::vector<uint64_t> &usable) {
    const size_t k = usable.size();
    std::vector<int> out(k, 0);
    if (k == 0) return out;
    unsigned __int128 total = 0;
    for (auto u : usable) total += u;
    std::vector<unsigned __int128> rem(k, 0);
    int sum = 0;
    for (size_t i = 0; i < k; ++i) {
        if (total == 0) { out[i] = n_layers / int(k); rem[i] = 0; }
        else {
            const unsigned __int128 q = (unsigned __int128)n_layers * usable[i];
            out[i] = int(q / total);
            rem[i] = q % total;
        }
        sum += out[i];
    }
    // Largest remainders take the layers the floors left over (ties: lower rank).
    std::vector<size_t> order(k);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rem[a] > rem[b]; });
    for (size_t j = 0; sum < n_layers; j = (j + 1) % k, ++sum) ++out[order[j]];
    // At least one layer per rank, taken from the largest shares.
    for (size_t i = 0; i < k; ++i) {
        while (out[i] < 1) {
            size_t big = 0;
            for (size_t j = 1; j < k; ++j)
                if (out[j] > out[big]) big = j;
            if (out[big] <= 1) break; // more ranks than layers: the caller prevents this
            --out[big];
            ++out[i];
        }
    }
    return out;
}

Outcome plan(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const Request &req) {
    std::vector<Candidate> cands;
    if (auto f = candidates(m, nodes, req, cands)) return *f;
    const size_t max_k = std::min({cands.size(), kMaxSearchNodes, size_t(m.n_layers)});
    if (size_t(req.min_nodes) > max_k)
        return fail(FailureKind::BadRequest, "the planner considers at most " + std::to_string(kMaxSearchNodes) + " nodes per instance");
    std::optional<Trial> last;
    for (size_t k = size_t(req.min_nodes); k <= max_k; ++k) {
        Trial t = best_of_size(m, cands, k, req.sharding);
        if (t.fits) return from_trial(m, std::move(t));
        last = std::move(t);
    }
    return from_trial(m, std::move(*last)); // the widest set's arithmetic
}

Outcome plan_exact(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const Request &req, int count) {
    Request r = req;
    r.min_nodes = count;
    std::vector<Candidate> cands;
    if (auto f = candidates(m, nodes, r, cands)) return *f;
    if (size_t(count) > kMaxSearchNodes)
        return fail(FailureKind::BadRequest, "the planner considers at most " + std::to_string(kMaxSearchNodes) + " nodes per instance");
    return from_trial(m, best_of_size(m, cands, size_t(count), r.sharding));
}

std::string check_layout(const std::vector<state::ShardAssignment> &shards, int n_layers) {
    if (shards.empty()) return "an instance needs at least one shard";
    std::vector<const state::ShardAssignment *> by_rank;
    for (const auto &s : shards) by_rank.push_back(&s);
    std::sort(by_rank.begin(), by_rank.end(), [](auto *a, auto *b) { return a->rank < b->rank; });
    std::set<std::string> nodes;
    int next = 0;
    const int world = int(shards.size());
    for (int r = 0; r < world; ++r) {
        const auto &s = *by_rank[r];
        const std::string who = "shard rank " + std::to_string(s.rank);
        if (s.rank != r) return "shard ranks must be 0.." + std::to_string(world - 1) + " once each; rank " + std::to_string(r) + " is missing";
        if (s.world_size != world) return who + " has world size " + std::to_string(s.world_size) + ", the instance has " + std::to_string(world) + " shards";
        if (s.node_id.empty()) return who + " names no node";
        if (!nodes.insert(s.node_id).second) return "node " + s.node_id + " holds more than one shard";
        if (s.first_layer != next)
            return who + " starts at layer " + std::to_string(s.first_layer) + "; layers must be contiguous in rank order, expected " + std::to_string(next);
        int last = s.last_layer;
        if (last == -1 && r == world - 1 && n_layers > 0) last = n_layers - 1;
        if (last == -1 && r == world - 1) return "";
        if (last < s.first_layer) return who + " has last layer " + std::to_string(s.last_layer) + " before its first layer " + std::to_string(s.first_layer);
        next = last + 1;
    }
    if (n_layers > 0 && next != n_layers)
        return "the shards cover layers 0.." + std::to_string(next - 1) + ", the model has " + std::to_string(n_layers) + " (0.." +
               std::to_string(n_layers - 1) + ")";
    return "";
}

std::string check_instance(const ModelFacts &m, const std::vector<NodeFacts> &nodes, const state::Instance &inst) {
    if (inst.sharding != "Pipeline") return "sharding must be \"Pipeline\" (Tensor is not implemented yet), got \"" + inst.sharding + "\"";
    if (m.n_layers == 0) return "the card of " + m.model_id + " has no n_layers";
    if (auto e = check_layout(inst.shards, int(m.n_layers)); !e.empty()) return e;
    if (inst.context_token_limit < 1 || uint64_t(inst.context_token_limit) > m.context_tokens)
        return "contextTokenLimit must be 1.." + std::to_string(m.context_tokens) + " (the model's context budget), got " +
               std::to_string(inst.context_token_limit);
    for (const auto &s : inst.shards) {
        auto it = std::find_if(nodes.begin(), nodes.end(), [&](const NodeFacts &n) { return n.node_id == s.node_id; });
        if (it == nodes.end()) return "node " + s.node_id + " is not a member of the cluster";
        if (!it->has_telemetry) return "info pending: no telemetry yet from node " + s.node_id;
        if (s.backend.empty()) return "shard rank " + std::to_string(s.rank) + " names no backend";
        if (!allowed(m, s.backend))
            return "backend " + s.backend + " is not compatible with " + m.model_id + " (card wants [" + join(m.compatible_backends) + "])";
        if (!offers(it->reading, s.backend)) return "node " + s.node_id + " does not offer backend " + s.backend;
        const int layers = (s.last_layer == -1 ? int(m.n_layers) - 1 : s.last_layer) - s.first_layer + 1;
        if (admission(m, layers).total() > usable_bytes(*it)) return arithmetic(m, s.node_id, layers, usable_bytes(*it), it->reserved_bytes);
    }
    return "";
}

std::string human_bytes(uint64_t bytes) {
    char buf[32];
    if (bytes >= 1000000000ull) std::snprintf(buf, sizeof buf, "%.1f GB", double(bytes) / 1e9);
    else std::snprintf(buf, sizeof buf, "%.0f MB", double(bytes) / 1e6);
    return buf;
}

} // namespace skulk::placement
