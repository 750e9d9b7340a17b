// The HTTP answer for a command the cluster did not carry out, chosen by the
// kind of refusal (state::Refusal), never by its text: one table for every
// route that submits commands.
#pragma once

#include "api/http_server.hpp"
#include "cluster/wire.hpp"

#include <string_view>

namespace skulk::api {

struct CommandAnswer {
    int status;
    const char *type; // the error envelope's type
};
// unavailable 503 (retry shortly), not_found 404, conflict 409, else 400.
CommandAnswer answer_for(state::Refusal refusal);

// Sends the envelope for a refused or unanswered command; `what` prefixes
// the cluster's reason (e.g. "the cluster did not accept the change: ").
void send_command_failure(HttpResponse &res, const cluster::CommandReply &reply, std::string_view what = {});

} // namespace skulk::api
