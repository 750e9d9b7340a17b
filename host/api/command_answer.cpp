#include "api/command_answer.hpp"

#include <string>

namespace skulk::api {

CommandAnswer answer_for(state::Refusal refusal) {
    switch (refusal) {
    case state::Refusal::unavailable: return {503, "service_unavailable"};
    case state::Refusal::not_found: return {404, "invalid_request_error"};
    case state::Refusal::conflict: return {409, "invalid_request_error"};
    case state::Refusal::invalid:
    case state::Refusal::none: break; // a refusal without a kind: from a node older than the field
    }
    return {400, "invalid_request_error"};
}

void send_command_failure(HttpResponse &res, const cluster::CommandReply &reply, std::string_view what) {
    const state::Refusal kind = reply.refusal == state::Refusal::none ? state::Refusal::invalid : reply.refusal;
    const CommandAnswer a = answer_for(kind);
    if (a.status == 503) res.add_header("Retry-After", "2");
    res.send_error(a.status, std::string(what) + reply.error, a.type, state::to_string(kind));
}

} // namespace skulk::api
