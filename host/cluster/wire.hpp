// What travels between nodes: versioned envelopes around typed messages.
// Serialised explicitly (JSON text via nlohmann-json, in wire.cpp only);
// never raw structs. A receiver checks `version` first and drops (with a log
// line) anything it does not speak.
#pragma once

#include "state/commands.hpp"
#include "state/events.hpp"
#include "telemetry/reading.hpp"

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace skulk::cluster {

constexpr uint32_t kWireVersion = 1;

// PUB/SUB topics (DESIGN.md section 5). The first frame of every published
// message is its topic, so SUB filtering stays in libzmq.
namespace topic {
constexpr std::string_view commands = "commands";         // reserved: commands go to the master over ROUTER/DEALER
constexpr std::string_view local_events = "local_events"; // reserved for worker-originated events
constexpr std::string_view global_events = "global_events";
constexpr std::string_view state_sync = "state_sync";     // heartbeats: membership, master, term, last idx
constexpr std::string_view election = "election";
constexpr std::string_view telemetry = "telemetry";
constexpr std::string_view data = "data";
} // namespace topic

// Bully order: forced masters first, then clock (highest term seen), then
// commands seen (events applied of that term: the most up-to-date node
// wins, so a change a quorum holds survives a master change), then seniority
// (terms this node has led), then node id.
struct ElectionKey {
    bool forced = false;
    uint64_t clock = 0;
    uint64_t commands_seen = 0;
    uint64_t seniority = 0;
    std::string node_id;
    auto operator<=>(const ElectionKey &) const = default;
    bool operator==(const ElectionKey &) const = default;
};

struct Heartbeat {
    uint16_t port = 0;                         // the sender's PUB port; its ROUTER is port + 1
    ElectionKey key;
    std::string master_id;                     // whom the sender follows ("" = none)
    uint64_t master_term = 0;
    int64_t last_idx = -1;                     // last event the sender applied in master_term
    std::map<std::string, std::string> peers;  // node id -> endpoint, so the mesh closes transitively
    bool leaving = false;                      // graceful shutdown
    // Random per process start: the node id is lasting (its key pair), so a
    // new incarnation of a known id says the node restarted.
    std::string incarnation;
};

enum class ElectionKind { Campaign, Answer, Coordinator };
struct ElectionMsg {
    ElectionKind kind = ElectionKind::Campaign;
    ElectionKey key;
    uint64_t term = 0; // Coordinator: the new term
};

struct Hello { uint16_t port = 0; std::string incarnation; };  // answered with the receiver's Heartbeat
struct CommandRequest { state::Command command; };
struct CommandReply {
    std::string command_id;
    bool ok = false;
    std::string error;
    std::vector<std::string> created_ids; // ids of instances the command created
    // Why it was refused, by kind ("refusal" on the wire; a reply without
    // it, from an older node, reads as none and counts as invalid).
    state::Refusal refusal = state::Refusal::none;
};
// A command that reached no master, or one whose change a majority did not
// confirm: refusal "unavailable" (the API answers 503: retry shortly).
CommandReply unavailable_reply(const std::string &command_id, std::string why);
struct SnapshotRequest {};
struct SnapshotReply { state::State state; };
struct GapRequest { uint64_t term = 0; int64_t since = -1; }; // events with idx > since
struct GapReply { uint64_t term = 0; std::vector<state::Event> events; };
struct TelemetryMsg { telemetry::Reading reading; }; // on topic::telemetry

using Body = std::variant<Heartbeat, ElectionMsg, state::Event, Hello, CommandRequest, CommandReply, SnapshotRequest,
                          SnapshotReply, GapRequest, GapReply, TelemetryMsg>;

struct Envelope {
    uint32_t version = kWireVersion;
    std::string ns;    // cluster namespace: other namespaces are ignored
    std::string from;  // sender node id
    Body body;
};

std::string encode(const Envelope &env);

struct Decoded {
    bool ok = false;
    bool version_mismatch = false;
    uint32_t version = 0;
    std::string error;
    Envelope env;
};
Decoded decode(std::string_view bytes);

// Events alone, for the durable log.
std::string encode_event(const state::Event &e);
bool decode_event(std::string_view bytes, state::Event &out, std::string &error);

} // namespace skulk::cluster
