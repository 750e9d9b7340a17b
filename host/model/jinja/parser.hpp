// Recursive-descent parser for the Jinja subset chat templates use.
#pragma once

#include "model/jinja/ast.hpp"
#include "model/jinja/lexer.hpp"

#include <string_view>

namespace skulk::model::jinja {

// Throws TemplateError naming the unsupported construct and its position.
Body parse(std::string_view source);

} // namespace skulk::model::jinja
