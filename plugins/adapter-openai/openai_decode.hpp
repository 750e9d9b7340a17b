// OpenAI wire request -> the host's canonical request (docs/canonical-api.md).
#pragma once

#include <string>
#include <string_view>

namespace skulk::openai {

// Validates an OpenAI request body the way the OpenAI API does and returns
// the canonical request JSON. Throws skulk::status_error:
//   SKULK_E_INVALID with an OpenAI-style reason ("Missing required parameter: 'messages'."),
//   SKULK_E_UNSUPPORTED for a route this adapter does not serve.
std::string decode_request(std::string_view method, std::string_view path, std::string_view body);

} // namespace skulk::openai
