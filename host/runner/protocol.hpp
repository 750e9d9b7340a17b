// The runner's ZeroMQ request protocol (host/runner/README.md): one JSON frame per
// message, "v":1 in each. This file is the only place in the runner that
// reads or writes JSON; the scheduler works on C++ types.
#pragma once

#include "runner/request.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace skulk::runner {

constexpr int kProtocolVersion = 1;

// A client message that could not be accepted: an error event for it.
struct ProtocolError {
    std::string command_id; // when the message named one
    std::string message;
};

struct ClientMessage {
    enum class Op { generate, cancel, ping } op = Op::generate;
    std::string command_id;
    GenerateRequest request;
};

// Decodes one client frame. On failure returns false and fills `error`
// with a message that names the field.
bool decode_client_message(std::string_view frame, ClientMessage &out, ProtocolError &error);

// Events (canonical events plus "v" and "command_id").
std::string pong_event(bool ready);
std::string start_event(const std::string &command_id, int32_t prompt_tokens);
std::string keepalive_event(const std::string &command_id);
// Writes the delta event into `out` (reused by the caller). `logprobs`:
// comma-separated entries (runner/logprobs.hpp) sent as "logprobs":[...];
// empty: no such field.
void delta_event(const std::string &command_id, std::string_view text, std::string &out);
void delta_event(const std::string &command_id, std::string_view text, std::string_view logprobs, std::string &out);
std::string done_event(const std::string &command_id, std::string_view finish_reason, int32_t prompt_tokens,
                       int32_t completion_tokens);
// status 4xx: code e.g. "context_length_exceeded"/"invalid_request_error",
// retryable false; status 5xx: retryable true.
std::string error_event(const std::string &command_id, int status, std::string_view code, std::string_view message);

} // namespace skulk::runner
