// The pipeline wire format between the ranks of one instance (ZeroMQ
// multipart over TCP). Rank 0 runs a hub (hub.hpp); every other rank
// connects to it (stage.hpp). Hidden states and logits travel as raw
// little-endian floats, never as JSON: a decode step of a 2048-wide model is
// 8 KiB per token, and the frames are read in place.
//
// Every message starts with a fixed 40-byte Header frame carrying a magic
// and the protocol version; a receiver refuses any other version by name
// (versioned like the C ABI: fields are appended, never moved).
//
//   hello  (rank r -> hub)  [Header][Hello]
//   step   (hub -> rank r)  [Header][pos i32 x n][seq u32 x n][want u8 x n][drops Drop x d][hidden f32 x n*width]
//   result (rank r -> hub)  [Header][f32 x rows*width]   rows: n_tokens (hidden) or n_out (logits, last rank)
//   error  (rank r -> hub)  [Header][UTF-8 message]
//   bye    (hub -> rank r)  [Header]                       rank 0 stops; not an error
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

namespace skulk::pipeline {

constexpr uint32_t kMagic = 0x4c504b53; // "SKPL" read as little-endian bytes
constexpr uint16_t kVersion = 1;

enum class Kind : uint16_t { hello = 1, step = 2, result = 3, error = 4, bye = 5 };
const char *to_string(Kind k);

struct Header {
    uint32_t magic = kMagic;
    uint16_t version = kVersion;
    uint16_t kind = 0;
    uint32_t rank = 0;     // hello/result/error: the sender; step/bye: the receiver
    uint32_t n_tokens = 0; // rows of the step
    uint32_t n_out = 0;    // rows that want logits (the last rank returns these)
    uint32_t n_drops = 0;  // KV drops to apply before the step's forward
    uint32_t width = 0;    // floats per payload row
    uint32_t reserved = 0;
    uint64_t step = 0;     // the hub's step number (results echo it)
};
static_assert(sizeof(Header) == 40, "the header is part of the wire format");

// What a rank says when it joins: the layers it loaded and the widths it expects.
struct Hello {
    uint32_t first_layer = 0, last_layer = 0, world_size = 0, n_embd = 0, n_vocab = 0, reserved = 0;
};
static_assert(sizeof(Hello) == 24, "part of the wire format");

// seq_drop(seq, p0, p1) on every rank before the next step.
struct Drop {
    uint32_t seq = 0;
    int32_t p0 = 0, p1 = -1;
};
static_assert(sizeof(Drop) == 12, "part of the wire format");

// A message that breaks the format; the text says which part.
struct FrameError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One received multipart message.
struct Message {
    std::vector<zmq::message_t> parts;
    Header header;
};

// Checks the header frame (magic, version, kind) and the part count/sizes
// of its kind. Throws FrameError.
void validate(Message &m);

// Views into a validated step message (valid while the message lives).
struct StepView {
    std::span<const int32_t> pos;
    std::span<const uint32_t> seq;
    std::span<const uint8_t> want;
    std::span<const Drop> drops;
    std::span<const float> hidden;
};
StepView step_view(const Message &m);
std::span<const float> result_view(const Message &m);
Hello hello_of(const Message &m);
std::string error_text(const Message &m);

// Senders (multipart, blocking). `route` is the ROUTER identity for the hub
// side, empty on a DEALER. Return false when ZeroMQ refuses the send.
bool send_hello(zmq::socket_t &s, uint32_t rank, const Hello &h);
bool send_step(zmq::socket_t &s, std::string_view route, uint32_t rank, uint64_t step, uint32_t n_out,
               std::span<const int32_t> pos, std::span<const uint32_t> seq, std::span<const uint8_t> want,
               std::span<const Drop> drops, std::span<const float> hidden, uint32_t width);
bool send_result(zmq::socket_t &s, uint32_t rank, uint64_t step, uint32_t rows, uint32_t width, const float *data);
bool send_error(zmq::socket_t &s, uint32_t rank, std::string_view message);
bool send_bye(zmq::socket_t &s, std::string_view route, uint32_t rank);

// Receives one whole message (with the ROUTER identity first when
// `has_route`). false: nothing within `timeout`.
bool receive(zmq::socket_t &s, bool has_route, std::string &route, Message &out, std::chrono::milliseconds timeout);

} // namespace skulk::pipeline
