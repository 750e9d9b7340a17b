// Renders a parsed template with a set of variables.
#pragma once

#include "chat_template/jinja/ast.hpp"

#include <string>
#include <unordered_map>

namespace skulk::model::jinja {

using Variables = std::unordered_map<std::string, Value>;

// Throws TemplateError (with line/column) on any failure, including
// raise_exception() called by the template.
std::string render(const Body &program, const Variables &vars);

// Built-ins (builtins.cpp).
Value call_filter(const std::string &name, Value &subject, std::vector<Value> &args, Kwargs &kwargs);
bool call_test(const std::string &name, const Value &subject, std::vector<Value> &args);
// A bound method of a string/list/dict, or undefined when there is none.
Value method(const Value &self, const std::string &name);
Value global_function(const std::string &name);

} // namespace skulk::model::jinja
