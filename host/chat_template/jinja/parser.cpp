#include "chat_template/jinja/parser.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace skulk::model::jinja {

namespace {

// Nesting deeper than this is refused: a template comes from a model file
// and must not be able to exhaust the stack.
constexpr int kMaxDepth = 200;

class Parser {
public:
    explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

    Body parse_all() {
        Body body = parse_body({});
        if (peek().type != Tok::eof) fail("unexpected tag");
        return body;
    }

private:
    const Token &peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
    const Token &next() { return t_[std::min(i_++, t_.size() - 1)]; }
    [[noreturn]] void fail(const std::string &what, const Token *at = nullptr) const {
        const Token &t = at ? *at : peek();
        throw TemplateError(fmt::format("chat template: {} at line {}, column {}", what, t.line, t.col));
    }
    bool is_op(const char *op, size_t k = 0) const { return peek(k).type == Tok::op && peek(k).text == op; }
    bool is_name(const char *n, size_t k = 0) const { return peek(k).type == Tok::name && peek(k).text == n; }
    void expect_op(const char *op) {
        if (!is_op(op)) fail(fmt::format("expected '{}'", op));
        ++i_;
    }
    std::string expect_name() {
        if (peek().type != Tok::name) fail("expected a name");
        return next().text;
    }
    void expect_stmt_close() {
        if (peek().type != Tok::stmt_close) fail("expected '%}'");
        ++i_;
    }
    template <typename N> N *at(N *n, const Token &t) {
        n->line = t.line, n->col = t.col;
        return n;
    }
    ExprPtr make(Expr::Kind k, const Token &t) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = t.line, e->col = t.col;
        return e;
    }

    // Parses statements until a `{% <one of ends> %}` tag (not consumed).
    Body parse_body(std::initializer_list<const char *> ends) {
        Body body;
        for (;;) {
            const Token &t = peek();
            if (t.type == Tok::eof) {
                if (ends.size()) fail(fmt::format("missing '{{% {} %}}'", *(ends.end() - 1)));
                return body;
            }
            if (t.type == Tok::text) {
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::text;
                s->text = next().text;
                body.push_back(std::move(s));
            } else if (t.type == Tok::expr_open) {
                ++i_;
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::output;
                at(s.get(), t);
                s->expr = expr();
                if (peek().type != Tok::expr_close) fail("expected '}}'");
                ++i_;
                body.push_back(std::move(s));
            } else if (t.type == Tok::stmt_open) {
                const Token &kw = peek(1);
                for (const char *e : ends)
                    if (kw.type == Tok::name && kw.text == e) return body;
                ++i_;
                body.push_back(statement());
            } else {
                fail("unexpected token");
            }
        }
    }

    StmtPtr statement() {
        DepthGuard guard(*this);
        const Token &kw = peek();
        if (kw.type != Tok::name) fail("expected a statement keyword");
        auto s = std::make_unique<Stmt>();
        at(s.get(), kw);
        const std::string k = next().text;
        if (k == "if") {
            s->kind = Stmt::Kind::if_;
            ExprPtr cond = expr();
            expect_stmt_close();
            for (;;) {
                Body b = parse_body({"elif", "else", "endif"});
                s->branches.emplace_back(std::move(cond), std::move(b));
                ++i_; // stmt_open
                std::string which = next().text;
                if (which == "elif") {
                    cond = expr();
                    expect_stmt_close();
                } else if (which == "else") {
                    expect_stmt_close();
                    Body e = parse_body({"endif"});
                    s->branches.emplace_back(nullptr, std::move(e));
                    i_ += 2;
                    expect_stmt_close();
                    break;
                } else {
                    expect_stmt_close();
                    break;
                }
            }
        } else if (k == "for") {
            s->kind = Stmt::Kind::for_;
            s->targets.push_back(expect_name());
            while (is_op(",")) {
                ++i_;
                s->targets.push_back(expect_name());
            }
            if (!is_name("in")) fail("expected 'in'");
            ++i_;
            s->expr = ternary_free_or();
            if (is_name("if")) {
                ++i_;
                s->filter = expr();
            }
            if (is_name("recursive")) fail("unsupported construct 'for ... recursive'");
            expect_stmt_close();
            s->body = parse_body({"else", "endfor"});
            ++i_;
            if (next().text == "else") {
                expect_stmt_close();
                s->else_body = parse_body({"endfor"});
                i_ += 2;
            }
            expect_stmt_close();
        } else if (k == "set") {
            s->kind = Stmt::Kind::set;
            s->targets.push_back(expect_name());
            if (is_op(".")) {
                ++i_;
                s->targets.push_back(expect_name());
            }
            if (is_op(",")) fail("unsupported construct 'set a, b = ...'");
            if (!is_op("=")) fail("unsupported construct '{% set %}...{% endset %}' (block set)");
            ++i_;
            s->expr = expr();
            expect_stmt_close();
        } else if (k == "macro") {
            s->kind = Stmt::Kind::macro;
            s->name = expect_name();
            expect_op("(");
            while (!is_op(")")) {
                std::string p = expect_name();
                ExprPtr def;
                if (is_op("=")) {
                    ++i_;
                    def = expr();
                }
                s->params.emplace_back(p, std::move(def));
                if (!is_op(")")) expect_op(",");
            }
            ++i_;
            expect_stmt_close();
            s->body = parse_body({"endmacro"});
            i_ += 2;
            expect_stmt_close();
        } else if (k == "break" || k == "continue") {
            s->kind = k == "break" ? Stmt::Kind::break_ : Stmt::Kind::continue_;
            expect_stmt_close();
        } else if (k == "generation" || k == "endgeneration") {
            s->kind = Stmt::Kind::noop; // HF's assistant-mask markers: no output
            expect_stmt_close();
        } else {
            fail(fmt::format("unsupported construct '{{% {} %}}'", k), &kw);
        }
        return s;
    }

    // ---- expressions, lowest precedence first
    ExprPtr expr() {
        DepthGuard guard(*this);
        ExprPtr e = or_expr();
        if (is_name("if")) {
            const Token &t = next();
            auto n = make(Expr::Kind::ternary, t);
            ExprPtr cond = or_expr();
            ExprPtr other;
            if (is_name("else")) {
                ++i_;
                other = expr();
            }
            n->args.push_back(std::move(cond));
            n->args.push_back(std::move(e));
            n->args.push_back(std::move(other));
            return n;
        }
        return e;
    }
    ExprPtr ternary_free_or() { return or_expr(); }
    ExprPtr or_expr() {
        ExprPtr l = and_expr();
        while (is_name("or")) {
            auto n = make(Expr::Kind::or_, next());
            n->args.push_back(std::move(l));
            n->args.push_back(and_expr());
            l = std::move(n);
        }
        return l;
    }
    ExprPtr and_expr() {
        ExprPtr l = not_expr();
        while (is_name("and")) {
            auto n = make(Expr::Kind::and_, next());
            n->args.push_back(std::move(l));
            n->args.push_back(not_expr());
            l = std::move(n);
        }
        return l;
    }
    ExprPtr not_expr() {
        DepthGuard guard(*this);
        if (is_name("not")) {
            auto n = make(Expr::Kind::not_, next());
            n->args.push_back(not_expr());
            return n;
        }
        return compare();
    }
    ExprPtr compare() {
        ExprPtr l = math1();
        for (;;) {
            std::string op;
            const Token &t = peek();
            if (t.type == Tok::op && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" ||
                                      t.text == ">" || t.text == ">=")) {
                op = t.text;
                ++i_;
            } else if (is_name("in")) {
                op = "in";
                ++i_;
            } else if (is_name("not") && is_name("in", 1)) {
                op = "not in";
                i_ += 2;
            } else {
                return l;
            }
            auto n = make(Expr::Kind::binary, t);
            n->name = op;
            n->args.push_back(std::move(l));
            n->args.push_back(math1());
            l = std::move(n);
        }
    }
    ExprPtr binary_loop(ExprPtr (Parser::*sub)(), std::initializer_list<const char *> ops) {
        ExprPtr l = (this->*sub)();
        for (;;) {
            const char *hit = nullptr;
            for (const char *op : ops)
                if (is_op(op)) hit = op;
            if (!hit) return l;
            auto n = make(Expr::Kind::binary, next());
            n->name = hit;
            n->args.push_back(std::move(l));
            n->args.push_back((this->*sub)());
            l = std::move(n);
        }
    }
    ExprPtr math1() { return binary_loop(&Parser::concat, {"+", "-"}); }
    ExprPtr concat() { return binary_loop(&Parser::math2, {"~"}); }
    ExprPtr math2() { return binary_loop(&Parser::power, {"*", "/", "//", "%"}); }
    ExprPtr power() { return binary_loop(&Parser::unary, {"**"}); }
    ExprPtr unary() {
        DepthGuard guard(*this);
        if (is_op("-") || is_op("+")) {
            const Token &t = next();
            auto n = make(t.text == "-" ? Expr::Kind::neg : Expr::Kind::pos, t);
            n->args.push_back(unary());
            return n;
        }
        return filters(postfix(primary()));
    }
    void call_args(Expr &n) {
        expect_op("(");
        while (!is_op(")")) {
            if (peek().type == Tok::name && is_op("=", 1)) {
                std::string k = next().text;
                ++i_;
                n.kwargs.emplace_back(k, expr());
            } else {
                n.args.push_back(expr());
            }
            if (!is_op(")")) expect_op(",");
        }
        ++i_;
    }
    ExprPtr postfix(ExprPtr e) {
        for (;;) {
            if (is_op(".")) {
                const Token &t = next();
                auto n = make(Expr::Kind::attr, t);
                n->name = expect_name();
                n->args.push_back(std::move(e));
                e = std::move(n);
            } else if (is_op("[")) {
                const Token &t = next();
                ExprPtr parts[3];
                bool slice = false;
                for (int k = 0; k < 3; ++k) {
                    if (!is_op(":") && !is_op("]")) parts[k] = expr();
                    if (is_op(":") && k < 2) {
                        slice = true;
                        ++i_;
                    } else {
                        break;
                    }
                }
                expect_op("]");
                if (!slice && !parts[0]) fail("empty subscript '[]'", &t); // found by the fuzzer
                auto n = make(slice ? Expr::Kind::slice : Expr::Kind::index, t);
                n->args.push_back(std::move(e));
                for (auto &p : parts) n->args.push_back(std::move(p));
                e = std::move(n);
            } else if (is_op("(")) {
                auto n = make(Expr::Kind::call, peek());
                n->args.push_back(std::move(e));
                call_args(*n);
                e = std::move(n);
            } else {
                return e;
            }
        }
    }
    ExprPtr filters(ExprPtr e) {
        for (;;) {
            if (is_op("|")) {
                const Token &t = next();
                auto n = make(Expr::Kind::filter, t);
                n->name = expect_name();
                n->args.push_back(std::move(e));
                if (is_op("(")) call_args(*n);
                e = postfix(std::move(n));
            } else if (is_name("is")) {
                const Token &t = next();
                auto n = make(Expr::Kind::test, t);
                if (is_name("not")) {
                    ++i_;
                    n->negated = true;
                }
                if (peek().type != Tok::name) fail("expected a test name after 'is'");
                n->name = next().text;
                n->args.push_back(std::move(e));
                if (is_op("(")) {
                    call_args(*n);
                } else if (peek().type == Tok::string || peek().type == Tok::integer || peek().type == Tok::number ||
                           (peek().type == Tok::name && !is_name("and") && !is_name("or") && !is_name("else") &&
                            !is_name("if") && !is_name("is") && !is_name("in") && !is_name("not"))) {
                    n->args.push_back(primary()); // `is divisibleby 3`, `is equalto x`
                }
                e = std::move(n);
            } else {
                return e;
            }
        }
    }
    ExprPtr primary() {
        const Token &t = peek();
        switch (t.type) {
        case Tok::string: {
            auto n = make(Expr::Kind::literal, next());
            std::string s = t.text;
            while (peek().type == Tok::string) s += next().text; // adjacent literals concatenate
            n->value = Value(s);
            return n;
        }
        case Tok::integer: {
            auto n = make(Expr::Kind::literal, next());
            int64_t v = 0;
            auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
            if (ec != std::errc() || end != t.text.data() + t.text.size()) fail("integer literal out of range", &t);
            n->value = Value(v);
            return n;
        }
        case Tok::number: {
            auto n = make(Expr::Kind::literal, next());
            n->value = Value(std::strtod(t.text.c_str(), nullptr));
            return n;
        }
        case Tok::name: {
            auto n = make(Expr::Kind::literal, next());
            if (t.text == "true" || t.text == "True") n->value = Value(true);
            else if (t.text == "false" || t.text == "False") n->value = Value(false);
            else if (t.text == "none" || t.text == "None") n->value = Value::none();
            else {
                n->kind = Expr::Kind::name;
                n->name = t.text;
            }
            return n;
        }
        case Tok::op:
            if (t.text == "(") {
                ++i_;
                ExprPtr e = expr();
                if (is_op(",")) { // a tuple: a list for our purposes
                    auto n = make(Expr::Kind::list, t);
                    n->args.push_back(std::move(e));
                    while (is_op(",")) {
                        ++i_;
                        if (is_op(")")) break;
                        n->args.push_back(expr());
                    }
                    e = std::move(n);
                }
                expect_op(")");
                return e;
            }
            if (t.text == "[") {
                auto n = make(Expr::Kind::list, next());
                while (!is_op("]")) {
                    n->args.push_back(expr());
                    if (!is_op("]")) expect_op(",");
                }
                ++i_;
                return n;
            }
            if (t.text == "{") {
                auto n = make(Expr::Kind::dict, next());
                while (!is_op("}")) {
                    n->args.push_back(expr());
                    expect_op(":");
                    n->args.push_back(expr());
                    if (!is_op("}")) expect_op(",");
                }
                ++i_;
                return n;
            }
            break;
        default: break;
        }
        fail(t.type == Tok::op ? fmt::format("unexpected '{}'", t.text) : "unexpected end of expression");
    }

    struct DepthGuard {
        Parser &p;
        explicit DepthGuard(Parser &parser) : p(parser) {
            if (++p.depth_ > kMaxDepth) p.fail("nesting too deep");
        }
        ~DepthGuard() { --p.depth_; }
    };

    std::vector<Token> t_;
    size_t i_ = 0;
    int depth_ = 0;
};

} // namespace

Body parse(std::string_view source) { return Parser(lex(source)).parse_all(); }

} // namespace skulk::model::jinja
