// Splits a template into text and tag tokens, applying Jinja's whitespace
// control the way Hugging Face renders chat templates: `{%-`/`-%}` strip,
// trim_blocks (drop the newline after a block tag) and lstrip_blocks (drop
// the indentation before a block tag).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace skulk::model::jinja {

enum class Tok { text, expr_open, expr_close, stmt_open, stmt_close, name, string, integer, number, op, eof };

struct Token {
    Tok type;
    std::string text; // text, name, string value, number spelling, operator
    int line, col;
};

std::vector<Token> lex(std::string_view source);

} // namespace skulk::model::jinja
