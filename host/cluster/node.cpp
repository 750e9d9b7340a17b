#include "cluster/node.hpp"

#include "cluster/beacon.hpp"
#include "cluster/quorum_replies.hpp"
#include "cluster/zap.hpp"
#include "common/curve.hpp"
#include "common/node_id.hpp"
#include "log/logging.hpp"
#include "master/master.hpp"
#include "state/apply.hpp"

#include <zmq.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace skulk::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr size_t kMaxSessionEvents = 100000; // kept in memory for gaps and /events
constexpr auto kQuorumWait = 10s;             // a placement change waits this long for a quorum to hold it


// "tcp://host:port" -> {host, port}; port -1 when malformed.
std::pair<std::string, int> split_endpoint(const std::string &ep) {
    const std::string prefix = "tcp://";
    if (ep.rfind(prefix, 0) != 0) return {"", -1};
    const auto colon = ep.rfind(':');
    if (colon == std::string::npos || colon < prefix.size()) return {"", -1};
    try {
        const int port = std::stoi(ep.substr(colon + 1));
        if (port <= 0 || port > 65534) return {"", -1};
        return {ep.substr(prefix.size(), colon - prefix.size()), port};
    } catch (const std::exception &) {
        return {"", -1};
    }
}

std::string router_endpoint(const std::string &pub_endpoint) {
    auto [host, port] = split_endpoint(pub_endpoint);
    return "tcp://" + host + ":" + std::to_string(port + 1);
}

} // namespace

const char *const kNoSecretWarning =
    "no cluster secret is set: anyone who can reach the cluster ports can join, read the state and events and "
    "submit commands (traffic is encrypted, but no one is authenticated); set SKULK_CLUSTER_SECRET or "
    "cluster.secret on every node, and --require-secret to refuse to start without one";

struct Node::Impl {
    struct Peer {
        std::string endpoint;              // its PUB endpoint
        Clock::time_point last_heard;
        Heartbeat last_hb;
    };
    struct Pending {
        state::Command command;
        std::promise<CommandReply> reply;
        Clock::time_point deadline;
        std::string sent_to;               // master it went to ("" = not yet sent)
    };

    NodeOptions opt;
    std::shared_ptr<spdlog::logger> log = skulk::log::get("cluster");
    CurveKeys server_keys;  // what our PUB/ROUTER serve with (cluster_server_keys)
    CurveKeys client_keys;  // what our SUB/DEALERs present: the secret's pair, else our own
    std::string incarnation; // random per start (Heartbeat::incarnation)
    zmq::context_t ctx{1};
    std::unique_ptr<ZapHandler> zap; // before the sockets: it must answer their handshakes
    std::optional<zmq::socket_t> pub, sub, router;
    std::map<std::string, zmq::socket_t> dealers; // keyed by PUB endpoint of the peer
    std::unique_ptr<Beacon> beacon;
    std::unique_ptr<eventlog::EventLog> eventlog;
    int bound_port = 0;
    std::thread thread;
    std::atomic<bool> running{false};

    // Loop-thread state.
    std::map<std::string, Peer> peers;                     // node id -> peer
    std::map<std::string, Clock::time_point> dialing;      // endpoint -> last hello sent
    std::set<std::string> bootstrap;                       // endpoints we always keep dialing
    std::set<std::string> self_endpoints;                  // endpoints that turned out to be us
    std::map<std::string, std::string> left;               // ids that said goodbye -> incarnation that did
    std::set<std::string> warned_versions;
    std::unique_ptr<Election> election;
    master::Indexer indexer;
    uint64_t session_term = 0;                             // term we lead (0: none)
    Clock::time_point session_started;
    Clock::time_point last_heartbeat{}, last_beacon{}, last_liveness{}, last_sync_request{};
    std::map<int64_t, state::Event> early;                 // events past a gap, by idx
    std::map<std::string, std::shared_ptr<Pending>> inflight;
    std::deque<std::shared_ptr<Pending>> waiting;          // no master yet
    std::vector<std::pair<Node::Listener, bool>> listeners; // (listener, muteable); set before start()
    uint64_t received_events = 0;                          // for the drop test hook
    QuorumReplies awaiting_quorum;                         // accepted, answered once a quorum holds them

    // Shared with other threads.
    mutable std::mutex mu;
    state::State state;
    std::deque<state::Event> session_events;
    std::string master_id;
    uint64_t term = 0;
    std::vector<PeerView> peer_views;
    std::deque<std::shared_ptr<Pending>> submitted;
    std::map<std::string, TelemetrySeen> telemetry;        // latest reading per node (self included)
    std::optional<telemetry::Reading> telemetry_out;       // ours, waiting to be published

    // ---- sockets -------------------------------------------------------
    // With a secret, both ends use the pair derived from it and the ZAP
    // handler admits only that client key. Without one, servers use the
    // namespace's public pair and clients their own identity pair.
    void setup_keys() {
        if (!zmq_has("curve")) throw std::runtime_error("this libzmq has no CURVE support; the cluster ports need it");
        if (opt.identity.secret_z85.empty()) {
            char pub[41] = {0}, sec[41] = {0};
            if (zmq_curve_keypair(pub, sec) != 0) throw std::runtime_error("zmq_curve_keypair failed");
            opt.identity = CurveKeys{pub, sec};
        }
        server_keys = cluster_server_keys(opt.secret, opt.ns);
        client_keys = opt.secret.empty() ? opt.identity : server_keys;
        incarnation = make_node_id();
        zap = std::make_unique<ZapHandler>(
            ctx, opt.secret.empty() ? std::nullopt : std::optional<std::string>(server_keys.public_z85), log);
    }

    void secure_server(zmq::socket_t &s) { secure_cluster_server(s, server_keys); }
    void secure_client(zmq::socket_t &s) { secure_cluster_client(s, server_keys.public_z85, client_keys); }

    void bind() {
        for (int attempt = 0;; ++attempt) {
            pub.emplace(ctx, zmq::socket_type::pub);
            router.emplace(ctx, zmq::socket_type::router);
            for (auto *s : {&*pub, &*router}) {
                s->set(zmq::sockopt::linger, 0);
                secure_server(*s);
            }
            router->set(zmq::sockopt::router_mandatory, 0);
            try {
                pub->bind("tcp://" + opt.bind_address + ":" + (opt.port ? std::to_string(opt.port) : std::string("*")));
            } catch (const zmq::error_t &e) {
                throw std::runtime_error("cannot bind cluster port " + std::to_string(opt.port) + ": " + e.what());
            }
            const auto ep = pub->get(zmq::sockopt::last_endpoint);
            const int port = std::stoi(ep.substr(ep.rfind(':') + 1));
            try {
                if (port >= 65535) throw zmq::error_t();
                router->bind("tcp://" + opt.bind_address + ":" + std::to_string(port + 1));
                bound_port = port;
                return;
            } catch (const zmq::error_t &e) {
                if (opt.port != 0 || attempt >= 50)
                    throw std::runtime_error("cannot bind cluster request port " + std::to_string(port + 1) +
                                             " (cluster port + 1): " + e.what());
                pub.reset(); // that pair is taken: try another free one
                router.reset();
            }
        }
    }

    void dial(const std::string &endpoint) {
        if (self_endpoints.count(endpoint) || dialing.count(endpoint) || split_endpoint(endpoint).second < 0) return;
        for (const auto &[id, p] : peers)
            if (p.endpoint == endpoint) return;
        sub->connect(endpoint);
        zmq::socket_t d(ctx, zmq::socket_type::dealer);
        d.set(zmq::sockopt::linger, 0);
        d.set(zmq::sockopt::immediate, 1); // never queue for a peer that is not connected
        secure_client(d);
        d.connect(from_bind_address(router_endpoint(endpoint)));
        dealers.emplace(endpoint, std::move(d));
        dialing[endpoint] = Clock::time_point{};
        log->debug("dialing {}", endpoint);
    }

    // With a specific bind address our requests also leave from it, so a
    // peer's ROUTER (Peer-Address of our hello) learns where we listen.
    std::string from_bind_address(const std::string &ep) const {
        if (opt.bind_address == "*" || opt.bind_address == "0.0.0.0" || ep.rfind("tcp://", 0) != 0) return ep;
        return "tcp://" + opt.bind_address + ":0;" + ep.substr(6);
    }

    void hang_up(const std::string &endpoint) {
        try { sub->disconnect(endpoint); } catch (const zmq::error_t &) {}
        dealers.erase(endpoint);
        dialing.erase(endpoint);
    }

    Envelope envelope(Body body) const { return Envelope{kWireVersion, opt.ns, opt.node_id, std::move(body)}; }

    void publish(std::string_view topic, Body body) {
        const std::string payload = encode(envelope(std::move(body)));
        pub->send(zmq::buffer(topic), zmq::send_flags::sndmore);
        pub->send(zmq::buffer(payload), zmq::send_flags::dontwait);
    }
    bool send_to(const std::string &endpoint, Body body) {
        auto it = dealers.find(endpoint);
        if (it == dealers.end()) return false;
        const std::string payload = encode(envelope(std::move(body)));
        return it->second.send(zmq::buffer(payload), zmq::send_flags::dontwait).has_value();
    }
    bool send_to_node(const std::string &id, Body body) {
        auto it = peers.find(id);
        return it != peers.end() && send_to(it->second.endpoint, std::move(body));
    }

    // Checks version and namespace; nullopt (and a log line) when dropped.
    std::optional<Envelope> open(std::string_view bytes, const char *via) {
        Decoded d = decode(bytes);
        if (d.version_mismatch) {
            if (warned_versions.insert(std::to_string(d.version)).second)
                log->warn("dropping a {} message with {} (logged once per version)", via, d.error);
            return std::nullopt;
        }
        if (!d.ok) {
            log->warn("dropping a malformed {} message: {}", via, d.error);
            return std::nullopt;
        }
        if (d.env.ns != opt.ns) {
            log->debug("ignoring a {} message from namespace \"{}\" (ours: \"{}\")", via, d.env.ns, opt.ns);
            return std::nullopt;
        }
        if (d.env.from == opt.node_id) return std::nullopt;
        return std::move(d.env);
    }

    // ---- membership ----------------------------------------------------
    std::set<std::string> alive_peers(Clock::time_point now) const {
        std::set<std::string> out;
        for (const auto &[id, p] : peers)
            if (now - p.last_heard < opt.peer_timeout) out.insert(id);
        return out;
    }

    Heartbeat heartbeat() const {
        Heartbeat hb;
        hb.port = uint16_t(bound_port);
        hb.key = election->key();
        hb.master_id = election->master();
        hb.master_term = election->term();
        hb.last_idx = state.term == election->term() ? state.last_event_applied_idx : -1;
        for (const auto &[id, p] : peers) hb.peers[id] = p.endpoint;
        hb.incarnation = incarnation;
        return hb;
    }

    // A peer identified itself (hello reply on our dealer to `endpoint`).
    void identified(const std::string &id, const std::string &endpoint, const Heartbeat &hb, Clock::time_point now) {
        if (id == opt.node_id) {
            self_endpoints.insert(endpoint);
            hang_up(endpoint);
            return;
        }
        if (has_left(id, hb.incarnation)) return;
        auto it = peers.find(id);
        if (it != peers.end() && restarted(it->second, hb.incarnation)) {
            on_restart(id, endpoint);
            it = peers.end();
        }
        if (it != peers.end() && it->second.endpoint != endpoint) {
            hang_up(endpoint); // a second route to a node we already reach
            it->second.last_heard = now;
            return;
        }
        if (it == peers.end()) log->info("peer {} joined at {}", id, endpoint);
        dialing.erase(endpoint);
        Peer &p = peers[id];
        p.endpoint = endpoint;
        p.last_heard = now;
        p.last_hb = hb;
    }

    // A gone node's id is ignored until it comes back as a new incarnation
    // (ids are lasting: the same node restarted).
    bool has_left(const std::string &id, const std::string &inc) {
        auto it = left.find(id);
        if (it == left.end()) return false;
        if (inc.empty() || inc == it->second) return true;
        left.erase(it);
        return false;
    }

    static bool restarted(const Peer &p, const std::string &inc) {
        return !inc.empty() && !p.last_hb.incarnation.empty() && inc != p.last_hb.incarnation;
    }

    // A known node is back as a new process: the runners of its old
    // instances died with the old one. The old entry goes (the new process
    // is identified afresh); the master deletes those instances at once,
    // rather than leaving them in /state with no runner, and joins the node
    // again on its next liveness pass.
    // `reached`: an endpoint the new process answered on (kept connected).
    void on_restart(const std::string &id, const std::string &reached = "") {
        auto it = peers.find(id);
        if (it == peers.end()) return;
        log->info("peer {} restarted (a new incarnation)", id);
        election->peer_restarted(id);
        const std::string ep = it->second.endpoint;
        peers.erase(it);
        if (ep != reached) {
            hang_up(ep);
            if (bootstrap.count(ep)) dial(ep);
        }
        if (session_term) emit_all(master::leave(state, id));
    }

    void heard(const std::string &id, const Heartbeat &hb, Clock::time_point now) {
        if (hb.leaving) {
            on_leaving(id, hb.incarnation);
            return;
        }
        auto it = peers.find(id);
        if (it != peers.end() && restarted(it->second, hb.incarnation)) {
            const std::string ep = it->second.endpoint;
            on_restart(id);
            dial(ep); // the new process most likely took the old port again
            return;
        }
        if (it == peers.end()) return; // not identified yet: the hello reply will do it
        it->second.last_heard = now;
        it->second.last_hb = hb;
        for (auto &m : election->on_heartbeat(id, hb, alive_peers(now))) {
            log->warn("two masters of term {}: {} and this node; this node goes on as master of term {}", hb.master_term,
                      id, election->term());
            publish(topic::election, m);
        }
        for (const auto &[pid, ep] : hb.peers)
            if (pid != opt.node_id && !peers.count(pid) && !left.count(pid)) dial(ep);
        // The master is ahead of us and nothing arrived: ask for the gap.
        if (id == election->master() && hb.master_term == state.term && hb.last_idx > state.last_event_applied_idx)
            request_sync(now, false);
    }

    // A node dialled us. A known id with a new incarnation restarted (maybe
    // on another port); another id on a known endpoint is a different node
    // that took the port: the old entry goes.
    void on_hello(const std::string &id, const std::string &endpoint, const std::string &inc) {
        if (auto it = peers.find(id); it != peers.end()) {
            if (!restarted(it->second, inc)) return;
            on_restart(id);
        }
        for (auto it = peers.begin(); it != peers.end(); ++it)
            if (it->second.endpoint == endpoint) {
                log->info("peer {} at {} is now {}", it->first, endpoint, id);
                peers.erase(it);
                break;
            }
        if (dealers.count(endpoint)) dialing[endpoint] = Clock::time_point{}; // connected already: just say hello
        else dial(endpoint);
    }

    void on_leaving(const std::string &id, const std::string &inc) {
        auto it = peers.find(id);
        if (it == peers.end()) return;
        log->info("peer {} is leaving", id);
        const std::string ep = it->second.endpoint;
        peers.erase(it);
        left[id] = inc;
        hang_up(ep);
        if (session_term) emit_all(master::leave(state, id));
    }

    void expire_peers(Clock::time_point now) {
        const auto forget_after = opt.node_timeout + 5s;
        for (auto it = peers.begin(); it != peers.end();) {
            if (now - it->second.last_heard > forget_after) {
                log->info("forgetting peer {} (silent for {} s)", it->first,
                          std::chrono::duration_cast<std::chrono::seconds>(now - it->second.last_heard).count());
                const std::string ep = it->second.endpoint;
                it = peers.erase(it);
                hang_up(ep);
                if (bootstrap.count(ep)) dial(ep);
            } else {
                ++it;
            }
        }
    }

    // ---- state -----------------------------------------------------------
    void apply_local(const state::Event &e) {
        {
            std::lock_guard lk(mu);
            if (e.term != state.term) session_events.clear();
            state = state::apply(std::move(state), e);
            session_events.push_back(e);
            if (session_events.size() > kMaxSessionEvents) session_events.pop_front();
        }
        if (eventlog) eventlog->append(encode_event(e));
        election->set_commands_seen(uint64_t(state.last_event_applied_idx + 1));
        notify(&e);
    }

    void notify(const state::Event *e) {
        for (const auto &[l, muteable] : listeners) {
            if (muteable && opt.test_mute_listeners) continue;
            try {
                l(state, e);
            } catch (const std::exception &ex) {
                log->error("a state listener threw: {}", ex.what());
            }
        }
    }

    void emit_all(const std::vector<state::EventBody> &bodies) {
        for (const auto &b : bodies) {
            const state::Event e = indexer.next(b);
            apply_local(e);
            publish(topic::global_events, e);
        }
    }

    void on_event(const std::string &from, const state::Event &e, Clock::time_point now) {
        if (session_term) return;                            // masters only listen to themselves
        if (from != election->master() || e.term != election->term()) return;
        if (e.term == state.term && e.idx <= state.last_event_applied_idx) return; // duplicate
        const bool next = (e.term == state.term && e.idx == state.last_event_applied_idx + 1) ||
                          (e.term > state.term && e.idx == 0);
        if (!next) {
            early[e.idx] = e;
            request_sync(now, e.term != state.term);
            return;
        }
        apply_local(e);
        for (auto it = early.begin(); it != early.end();) {
            if (it->first <= state.last_event_applied_idx) { it = early.erase(it); continue; }
            if (it->first != state.last_event_applied_idx + 1) break;
            apply_local(it->second);
            it = early.erase(it);
        }
    }

    void request_sync(Clock::time_point now, bool snapshot) {
        if (now - last_sync_request < 300ms) return;
        last_sync_request = now;
        const std::string &m = election->master();
        if (m.empty() || m == opt.node_id) return;
        if (snapshot || state.term != election->term()) send_to_node(m, SnapshotRequest{});
        else send_to_node(m, GapRequest{state.term, state.last_event_applied_idx});
    }

    void install_snapshot(const state::State &s) {
        if (s.term != election->term() || (s.term == state.term && s.last_event_applied_idx <= state.last_event_applied_idx))
            return;
        {
            std::lock_guard lk(mu);
            state = s;
            session_events.clear(); // /events on a follower starts at the snapshot
        }
        election->set_commands_seen(uint64_t(state.last_event_applied_idx + 1));
        notify(nullptr);
        log->info("installed snapshot of term {} at idx {}", s.term, s.last_event_applied_idx);
        for (auto it = early.begin(); it != early.end();) {
            if (it->second.term == state.term && it->first == state.last_event_applied_idx + 1) {
                apply_local(it->second);
                it = early.erase(it);
            } else if (it->first <= state.last_event_applied_idx) {
                it = early.erase(it);
            } else {
                ++it;
            }
        }
    }

    // ---- master role ---------------------------------------------------
    void maybe_start_session(Clock::time_point now) {
        if (!election->is_master()) {
            if (session_term) log->info("no longer master (term {})", session_term);
            session_term = 0;
            return;
        }
        if (session_term == election->term()) return;
        session_term = election->term();
        session_started = now;
        indexer.start(session_term);
        early.clear();
        std::vector<state::Instance> carried;
        for (const auto &[id, inst] : state.instances) carried.push_back(inst);
        std::vector<state::CustomCard> cards;
        for (const auto &[id, card] : state.custom_cards) cards.push_back(card);
        log->info("elected master for term {}; carrying over {} instance(s), {} custom card(s)", session_term,
                  carried.size(), cards.size());
        emit_all({state::SessionStarted{opt.node_id, std::move(carried), std::move(cards), carried_replacing()}});
        liveness(now);
    }

    // Re-placements still pending in the prior view go on in the new session.
    std::vector<state::Instance> carried_replacing() const {
        std::vector<state::Instance> out;
        for (const auto &[id, inst] : state.replacing) out.push_back(inst);
        return out;
    }

    void liveness(Clock::time_point now) {
        master::LivenessInput in;
        in.now = now;
        in.session_started = session_started;
        in.node_timeout = opt.node_timeout;
        in.settle_grace = opt.settle_grace;
        in.self = opt.node_id;
        in.heard[opt.node_id] = {"tcp://" + advertised_host() + ":" + std::to_string(bound_port), now};
        for (const auto &[id, p] : peers) in.heard[id] = {p.endpoint, p.last_heard};
        emit_all(master::liveness(state, in));
    }

    std::string advertised_host() const {
        return opt.bind_address == "*" || opt.bind_address == "0.0.0.0" ? "127.0.0.1" : opt.bind_address;
    }

    CommandReply decide(const state::Command &cmd) {
        CommandReply r;
        r.command_id = cmd.command_id;
        const auto d = master::decide(state, cmd, [] { return make_node_id(); });
        r.ok = d.ok;
        r.error = d.error;
        r.refusal = d.refusal;
        if (d.ok) {
            for (const auto &b : d.events)
                if (auto *c = std::get_if<state::InstanceCreated>(&b)) r.created_ids.push_back(c->instance.id);
            emit_all(d.events);
        }
        return r;
    }

    // ---- quorum: a placement change is answered once a quorum holds it ---
    // The minority side of a partition has no master (Election::set_quorum),
    // a change is confirmed once a majority applied it (QuorumReplies), and
    // the most up-to-date node wins the next election (ElectionKey).

    // This master plus the alive followers whose heartbeat says they applied
    // event `idx` of this session.
    size_t holders(int64_t idx, const std::set<std::string> &alive) const {
        size_t n = 1;
        for (const auto &id : alive) {
            const auto &hb = peers.at(id).last_hb;
            if (hb.master_id == opt.node_id && hb.master_term == session_term && hb.last_idx >= idx) ++n;
        }
        return n;
    }

    size_t known_members(const std::set<std::string> &alive) const {
        std::set<std::string> m(alive.begin(), alive.end());
        m.insert(opt.node_id);
        for (const auto &[id, n] : state.nodes) m.insert(id);
        return m.size();
    }

    void answer_once_held(const state::Command &cmd, CommandReply r, QuorumReplies::Answer answer, Clock::time_point now) {
        const int64_t idx = state.last_event_applied_idx;
        if (r.ok && QuorumReplies::needs_quorum(cmd) && holders(idx, alive_peers(now)) < election->quorum())
            awaiting_quorum.hold(std::move(r), session_term, idx, now + kQuorumWait, std::move(answer));
        else
            answer(r);
    }

    void settle_awaiting(Clock::time_point now) {
        if (awaiting_quorum.empty()) return;
        const auto alive = alive_peers(now);
        awaiting_quorum.settle(session_term, election->quorum(), [&](int64_t idx) { return holders(idx, alive); }, now);
    }

    // ---- commands from this process ------------------------------------
    void route_commands(Clock::time_point now) {
        {
            std::lock_guard lk(mu);
            while (!submitted.empty()) {
                waiting.push_back(std::move(submitted.front()));
                submitted.pop_front();
            }
        }
        for (auto it = waiting.begin(); it != waiting.end();) {
            auto &p = *it;
            if (session_term) {
                answer_once_held(p->command, decide(p->command),
                                 [p](const CommandReply &r) { p->reply.set_value(r); }, now);
            } else if (!election->master().empty() && send_to_node(election->master(), CommandRequest{p->command})) {
                p->sent_to = election->master();
                inflight[p->command.command_id] = p;
            } else if (now < p->deadline) {
                ++it;
                continue;
            } else {
                p->reply.set_value(unavailable_reply(p->command.command_id, "no master is elected yet; retry shortly"));
            }
            it = waiting.erase(it);
        }
        for (auto it = inflight.begin(); it != inflight.end();) {
            auto &p = it->second;
            if (now >= p->deadline || p->sent_to != election->master()) {
                p->reply.set_value(unavailable_reply(
                    it->first, now >= p->deadline ? "the master did not answer in time" : "the master changed; retry the request"));
                it = inflight.erase(it);
            } else {
                ++it;
            }
        }
    }

    // ---- message handlers ----------------------------------------------
    void on_sub(std::string_view payload, Clock::time_point now) {
        auto env = open(payload, "topic");
        if (!env) return;
        if (auto *hb = std::get_if<Heartbeat>(&env->body)) heard(env->from, *hb, now);
        else if (auto *em = std::get_if<ElectionMsg>(&env->body)) {
            // Only identified peers vote: a coordinator we cannot reach yet
            // would be "lost" again at the next tick, over and over.
            auto it = peers.find(env->from);
            if (it == peers.end()) return;
            it->second.last_heard = now;
            for (auto &m : election->on_message(env->from, *em, now)) publish(topic::election, m);
        } else if (auto *t = std::get_if<TelemetryMsg>(&env->body)) {
            std::lock_guard lk(mu);
            telemetry[env->from] = TelemetrySeen{t->reading, std::chrono::system_clock::now()};
        } else if (auto *ev = std::get_if<state::Event>(&env->body)) {
            if (opt.test_drop_every_nth_event && ++received_events % opt.test_drop_every_nth_event == 0) return;
            on_event(env->from, *ev, now);
        }
    }

    void on_router(const zmq::message_t &identity, zmq::message_t &msg, Clock::time_point now) {
        auto env = open(msg.to_string_view(), "request");
        if (!env) return;
        std::optional<Body> reply;
        if (auto *h = std::get_if<Hello>(&env->body)) {
            std::string host = "127.0.0.1";
            try { host = msg.gets("Peer-Address"); } catch (const zmq::error_t &) {}
            if (!has_left(env->from, h->incarnation))
                on_hello(env->from, "tcp://" + host + ":" + std::to_string(h->port), h->incarnation);
            reply = heartbeat();
        } else if (auto *c = std::get_if<CommandRequest>(&env->body)) {
            if (session_term) {
                auto send = [this, id = std::string(identity.to_string())](const CommandReply &r) { reply_to(id, r); };
                answer_once_held(c->command, decide(c->command), std::move(send), now);
                return;
            }
            reply = unavailable_reply(c->command.command_id, "this node is not the master");
        } else if (std::get_if<SnapshotRequest>(&env->body)) {
            if (session_term) reply = SnapshotReply{state};
        } else if (auto *g = std::get_if<GapRequest>(&env->body)) {
            if (session_term) {
                GapReply r{state.term, {}};
                std::lock_guard lk(mu);
                for (const auto &e : session_events)
                    if (e.term == g->term && e.idx > g->since) r.events.push_back(e);
                if (g->term != state.term || (!r.events.empty() && r.events.front().idx != g->since + 1)) r.events.clear();
                reply = std::move(r);
            }
        }
        if (!reply) return;
        reply_to(identity.to_string(), std::move(*reply));
    }

    void reply_to(const std::string &identity, Body body) {
        const std::string payload = encode(envelope(std::move(body)));
        router->send(zmq::buffer(identity), zmq::send_flags::sndmore);
        router->send(zmq::buffer(payload), zmq::send_flags::dontwait);
    }

    void on_dealer(const std::string &endpoint, std::string_view payload, Clock::time_point now) {
        Decoded d = decode(payload);
        if (d.ok && d.env.from == opt.node_id && std::holds_alternative<Heartbeat>(d.env.body)) {
            identified(opt.node_id, endpoint, {}, now); // we dialled ourselves
            return;
        }
        auto env = open(payload, "reply");
        if (!env) return;
        if (auto *hb = std::get_if<Heartbeat>(&env->body)) {
            identified(env->from, endpoint, *hb, now);
            heard(env->from, *hb, now);
        } else if (auto *r = std::get_if<CommandReply>(&env->body)) {
            if (auto it = inflight.find(r->command_id); it != inflight.end()) {
                it->second->reply.set_value(*r);
                inflight.erase(it);
            }
        } else if (auto *s = std::get_if<SnapshotReply>(&env->body)) {
            install_snapshot(s->state);
        } else if (auto *g = std::get_if<GapReply>(&env->body)) {
            if (g->events.empty() && g->term != state.term) request_sync(now, true);
            const int64_t before = state.last_event_applied_idx;
            for (const auto &e : g->events) on_event(election->master(), e, now);
            if (state.last_event_applied_idx > before)
                log->info("gap filled: applied events {}..{} from the master", before + 1, state.last_event_applied_idx);
        }
    }

    // ---- the loop --------------------------------------------------------
    void periodic(Clock::time_point now) {
        // Until a dialled endpoint answers, say hello often: with
        // ZMQ_IMMEDIATE a hello sent before the TCP connection is up is
        // dropped, not queued.
        for (auto &[ep, last] : dialing)
            if (now - last >= 250ms) {
                last = now;
                send_to(ep, Hello{uint16_t(bound_port), incarnation});
            }
        if (beacon && now - last_beacon >= 2s) {
            last_beacon = now;
            beacon->send(BeaconInfo{opt.ns, opt.node_id, uint16_t(bound_port), {}});
        }
        const auto alive = alive_peers(now);
        election->set_quorum(quorum_of(known_members(alive)));
        const std::string before = election->master();
        for (auto &m : election->tick(now, alive)) publish(topic::election, m);
        if (election->master() != before) {
            if (before == opt.node_id && election->master().empty())
                log->warn("stepping down as master: fewer than {} of {} known members are reachable (a partition?)",
                          election->quorum(), known_members(alive));
            else if (election->master().empty()) log->warn("master {} lost; a new election follows", before);
            else log->info("master is now {} (term {})", election->master(), election->term());
        }
        maybe_start_session(now);
        if (!session_term && !election->master().empty() && state.term != election->term()) request_sync(now, true);
        if (session_term && now - last_liveness >= 500ms) {
            last_liveness = now;
            liveness(now);
        }
        if (now - last_heartbeat >= opt.heartbeat) {
            last_heartbeat = now;
            publish(topic::state_sync, heartbeat());
            expire_peers(now);
        }
        route_commands(now);
        settle_awaiting(now);
        std::optional<telemetry::Reading> reading;
        {
            std::lock_guard lk(mu);
            reading = std::exchange(telemetry_out, std::nullopt);
        }
        if (reading) publish(topic::telemetry, TelemetryMsg{std::move(*reading)});
        std::lock_guard lk(mu);
        master_id = election->master();
        term = election->term();
        peer_views.clear();
        const auto sys_now = std::chrono::system_clock::now();
        for (const auto &[id, p] : peers)
            peer_views.push_back(PeerView{id, p.endpoint, alive.count(id) > 0,
                                          sys_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(now - p.last_heard)});
    }

    void loop() {
        std::vector<zmq::pollitem_t> items;
        std::vector<std::string> dealer_eps;
        while (running) {
            items.clear();
            dealer_eps.clear();
            items.push_back({sub->handle(), 0, ZMQ_POLLIN, 0});
            items.push_back({router->handle(), 0, ZMQ_POLLIN, 0});
            items.push_back({nullptr, beacon ? beacon->fd() : -1, ZMQ_POLLIN, 0});
            items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
            for (auto &[ep, d] : dealers) {
                items.push_back({d.handle(), 0, ZMQ_POLLIN, 0});
                dealer_eps.push_back(ep);
            }
            try {
                zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));
            } catch (const zmq::error_t &e) {
                if (e.num() == ETERM) return;
                if (e.num() != EINTR) log->error("poll: {}", e.what());
            }
            const auto now = Clock::now();
            try {
                if (items[0].revents & ZMQ_POLLIN)
                    for (int i = 0; i < 256; ++i) {
                        zmq::message_t topic_frame, payload;
                        if (!sub->recv(topic_frame, zmq::recv_flags::dontwait)) break;
                        if (!topic_frame.more() || !sub->recv(payload, zmq::recv_flags::dontwait)) continue;
                        on_sub(payload.to_string_view(), now);
                    }
                if (items[1].revents & ZMQ_POLLIN)
                    for (int i = 0; i < 256; ++i) {
                        zmq::message_t identity, msg;
                        if (!router->recv(identity, zmq::recv_flags::dontwait)) break;
                        if (!identity.more() || !router->recv(msg, zmq::recv_flags::dontwait)) continue;
                        on_router(identity, msg, now);
                    }
                if (items[3].revents & ZMQ_POLLIN) zap->handle();
                if (beacon && (items[2].revents & ZMQ_POLLIN))
                    while (auto b = beacon->receive())
                        if (b->ns == opt.ns && b->node_id != opt.node_id && !peers.count(b->node_id) && !left.count(b->node_id))
                            dial("tcp://" + b->address + ":" + std::to_string(b->port));
                for (size_t i = 0; i < dealer_eps.size(); ++i) {
                    if (!(items[4 + i].revents & ZMQ_POLLIN)) continue;
                    const std::string ep = dealer_eps[i];
                    for (int n = 0; n < 64; ++n) {
                        auto it = dealers.find(ep);
                        if (it == dealers.end()) break;
                        zmq::message_t msg;
                        if (!it->second.recv(msg, zmq::recv_flags::dontwait)) break;
                        on_dealer(ep, msg.to_string_view(), now);
                    }
                }
                periodic(now);
            } catch (const std::exception &e) {
                log->error("cluster loop: {}", e.what());
            }
        }
        awaiting_quorum.fail_all("the node is stopping; the change may or may not take effect");
        // Goodbye, so the master removes us now rather than after the timeout.
        try {
            Heartbeat hb = heartbeat();
            hb.leaving = true;
            pub->set(zmq::sockopt::linger, 200); // let the goodbye reach connected peers
            publish(topic::state_sync, hb);
        } catch (const std::exception &) {}
    }
};

Node::Node(NodeOptions options) : impl_(std::make_unique<Impl>()) { impl_->opt = std::move(options); }

Node::~Node() { stop(); }

void Node::start() {
    auto &d = *impl_;
    d.setup_keys();
    // Replay: the node's prior view. Only its instances matter: they are what
    // this node carries over should it become master.
    eventlog::Options lo;
    lo.dir = d.opt.data_dir / "eventlog";
    lo.min_free_bytes = d.opt.eventlog_min_free_bytes;
    // A gap in a damaged log: peers' snapshot fills it; alone, only the operator may accept it.
    lo.on_gap = d.opt.eventlog_accept_gap     ? eventlog::GapPolicy::accept
                : d.opt.bootstrap_peers.empty() ? eventlog::GapPolicy::refuse
                                                : eventlog::GapPolicy::fill_from_cluster;
    d.eventlog = std::make_unique<eventlog::EventLog>(lo, d.log);
    state::State prior;
    uint64_t bad = 0;
    const auto st = d.eventlog->replay([&](std::string_view rec) {
        state::Event e;
        std::string err;
        if (decode_event(rec, e, err)) prior = state::apply(std::move(prior), e);
        else ++bad;
    });
    if (!st.refused.empty()) throw std::runtime_error(st.refused);
    d.state.instances = std::move(prior.instances);
    d.log->info("event log replayed: {} record(s), {} instance(s) in the prior view{}{}", st.records,
                d.state.instances.size(), bad ? fmt::format(", {} undecodable record(s) skipped", bad) : "",
                st.dropped_bytes ? fmt::format(", {} torn byte(s) dropped", st.dropped_bytes) : "");

    d.bind();
    d.sub.emplace(d.ctx, zmq::socket_type::sub);
    d.sub->set(zmq::sockopt::linger, 0);
    d.secure_client(*d.sub);
    d.sub->set(zmq::sockopt::subscribe, "");
    d.election = std::make_unique<Election>(d.opt.node_id, d.opt.force_master, d.opt.election, Clock::now());
    for (const auto &ep : d.opt.bootstrap_peers) {
        if (split_endpoint(ep).second < 0)
            throw std::runtime_error("bootstrap peer \"" + ep + "\" is not tcp://host:port");
        d.bootstrap.insert(ep);
        d.dial(ep);
    }
    if (d.opt.beacons) {
        d.beacon = std::make_unique<Beacon>(d.opt.beacon_port);
        if (d.beacon->fd() < 0) {
            d.log->warn("UDP beacons off: {}", d.beacon->error());
            d.beacon.reset();
        }
    }
    d.log->info("cluster port {} (requests on {}), namespace \"{}\", CURVE encryption on, {}{}", d.bound_port,
                d.bound_port + 1, d.opt.ns, d.opt.secret.empty() ? "no cluster secret" : "members proven by the cluster secret",
                d.opt.force_master ? ", forced master" : "");
    if (d.opt.secret.empty()) d.log->warn("SECURITY: {}", kNoSecretWarning);
    if (d.opt.test_mute_listeners)
        d.log->warn("SKULK_TEST_NO_STATE_LISTENERS=1: state listeners (the worker) are not called; a test setting");
    d.running = true;
    d.thread = std::thread([&d] { d.loop(); });
}

void Node::stop() {
    auto &d = *impl_;
    if (!d.running.exchange(false)) return;
    if (d.thread.joinable()) d.thread.join();
    std::lock_guard lk(d.mu);
    for (auto &p : d.submitted) p->reply.set_value(unavailable_reply(p->command.command_id, "the node is stopping"));
    d.submitted.clear();
}

int Node::port() const { return impl_->bound_port; }

void Node::add_listener(Listener listener, bool muteable) {
    if (impl_->running) throw std::logic_error("Node::add_listener after start()");
    impl_->listeners.emplace_back(std::move(listener), muteable);
}

View Node::view() const {
    auto &d = *impl_;
    std::lock_guard lk(d.mu);
    View v;
    v.state = d.state;
    v.self_id = d.opt.node_id;
    v.master_id = d.master_id;
    v.is_master = !d.master_id.empty() && d.master_id == d.opt.node_id;
    v.term = d.term;
    v.port = d.bound_port;
    v.peers = d.peer_views;
    v.telemetry = d.telemetry;
    v.cluster_secret = !d.opt.secret.empty();
    v.refused_connections = d.zap ? d.zap->refused() : 0;
    if (d.eventlog) {
        v.eventlog_counting_only = d.eventlog->counting_only();
        v.eventlog_appended = d.eventlog->appended();
    }
    return v;
}

void Node::publish_telemetry(const telemetry::Reading &reading) {
    auto &d = *impl_;
    std::lock_guard lk(d.mu);
    d.telemetry[d.opt.node_id] = TelemetrySeen{reading, std::chrono::system_clock::now()};
    d.telemetry_out = reading; // the cluster thread sends it on its next pass
}

std::vector<state::Event> Node::events_since(int64_t since, size_t max) const {
    auto &d = *impl_;
    std::lock_guard lk(d.mu);
    std::vector<state::Event> out;
    for (const auto &e : d.session_events)
        if (e.idx > since && out.size() < max) out.push_back(e);
    return out;
}

CommandReply Node::submit(state::CommandBody body, std::chrono::milliseconds timeout) {
    auto &d = *impl_;
    auto p = std::make_shared<Impl::Pending>();
    p->command = state::Command{make_node_id(), d.opt.node_id, std::move(body)};
    p->deadline = Clock::now() + timeout;
    auto fut = p->reply.get_future();
    const std::string id = p->command.command_id;
    {
        std::lock_guard lk(d.mu);
        if (!d.running) return unavailable_reply(id, "the cluster is not running");
        d.submitted.push_back(std::move(p));
    }
    if (fut.wait_for(timeout + 2s) != std::future_status::ready)
        return unavailable_reply(id, "the cluster did not answer in time");
    return fut.get();
}

} // namespace skulk::cluster
