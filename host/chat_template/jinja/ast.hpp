// The parsed template: expressions and statements.
#pragma once

#include "chat_template/jinja/value.hpp"

#include <memory>
#include <string>
#include <vector>

namespace skulk::model::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        literal, name, attr, index, slice, call, filter, test, neg, pos, not_, binary, and_, or_, ternary, list, dict
    };
    Kind kind;
    int line = 0, col = 0;
    Value value;                 // literal
    std::string name;            // name, attr, filter, test; binary operator
    std::vector<ExprPtr> args;   // operands / call arguments / list items / dict keys+values interleaved
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    bool negated = false;        // `is not`
    bool has_slice_part[3] = {false, false, false};
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
    enum class Kind { text, output, if_, for_, set, macro, break_, continue_, noop };
    Kind kind;
    int line = 0, col = 0;
    std::string text;                  // text
    ExprPtr expr;                      // output, set value, for iterable
    std::vector<std::pair<ExprPtr, Body>> branches; // if/elif (+ else with null condition)
    std::vector<std::string> targets;  // for variables; set: name or ns.attr as {"ns","attr"}
    ExprPtr filter;                    // for ... if cond
    Body body, else_body;              // for / macro
    std::string name;                  // macro
    std::vector<std::pair<std::string, ExprPtr>> params; // macro parameters with defaults
};

} // namespace skulk::model::jinja
