// Recursive-descent parser for the Jinja subset chat templates use.
#pragma once

#include "chat_template/jinja/ast.hpp"
#include "chat_template/jinja/lexer.hpp"

#include <string_view>

namespace skulk::model::jinja {

// Throws TemplateError naming the unsupported construct and its position.
Body parse(std::string_view source);

} // namespace skulk::model::jinja
