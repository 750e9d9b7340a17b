#include "chat_template/jinja/interpreter.hpp"

#include <fmt/format.h>

#include <cmath>

namespace skulk::model::jinja {

namespace {

enum class Flow { normal, break_, continue_ };

// Bounds on what a template (from an untrusted model file) may do.
constexpr size_t kMaxFrames = 256;
constexpr uint64_t kMaxIterations = 10'000'000; // loop iterations per render

class Interpreter {
public:
    explicit Interpreter(const Variables &vars) { frames_.push_back(vars); }

    Flow exec(const Body &body, std::string &out) {
        for (const StmtPtr &s : body) {
            Flow f = exec_one(*s, out);
            if (f != Flow::normal) return f;
        }
        return Flow::normal;
    }

private:
    [[noreturn]] static void fail(int line, int col, const std::string &what) {
        throw TemplateError(fmt::format("chat template: {} at line {}, column {}", what, line, col));
    }
    // Errors thrown by built-ins get the position of the expression.
    template <typename F> auto located(int line, int col, F &&f) {
        try {
            return f();
        } catch (const TemplateError &e) {
            std::string m = e.what();
            if (m.find(" at line ") != std::string::npos) throw;
            fail(line, col, m);
        }
    }

    Value lookup(const std::string &name) const {
        for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
            auto f = it->find(name);
            if (f != it->end()) return f->second;
        }
        return global_function(name);
    }

    Flow exec_one(const Stmt &s, std::string &out) {
        switch (s.kind) {
        case Stmt::Kind::text: out += s.text; return Flow::normal;
        case Stmt::Kind::noop: return Flow::normal;
        case Stmt::Kind::output: {
            Value v = located(s.line, s.col, [&] { return eval(*s.expr); });
            out += v.to_string();
            return Flow::normal;
        }
        case Stmt::Kind::if_:
            for (const auto &branch : s.branches) {
                const Expr *cond = branch.first.get(); // (clang 14 cannot capture structured bindings)
                if (!cond || located(s.line, s.col, [&] { return eval(*cond); }).truthy()) return exec(branch.second, out);
            }
            return Flow::normal;
        case Stmt::Kind::set: {
            Value v = located(s.line, s.col, [&] { return eval(*s.expr); });
            if (s.targets.size() == 1) {
                frames_.back()[s.targets[0]] = std::move(v);
            } else {
                Value ns = lookup(s.targets[0]);
                if (!ns.is_object()) fail(s.line, s.col, "'" + s.targets[0] + "' is not a namespace");
                ns.obj().set(s.targets[1], std::move(v));
            }
            return Flow::normal;
        }
        case Stmt::Kind::for_: return exec_for(s, out);
        case Stmt::Kind::macro: {
            const Stmt *def = &s;
            frames_.back()[s.name] = Value::function([this, def](std::vector<Value> &args, Kwargs &kw) {
                Variables frame;
                for (size_t i = 0; i < def->params.size(); ++i) {
                    const auto &[pname, pdef] = def->params[i];
                    if (i < args.size()) frame[pname] = args[i];
                    else if (const Value *v = kw.find(pname)) frame[pname] = *v;
                    else if (pdef) frame[pname] = eval(*pdef);
                    else frame[pname] = Value();
                }
                if (frames_.size() > kMaxFrames) throw TemplateError("macro calls nested too deep");
                frames_.push_back(std::move(frame));
                std::string body;
                exec(def->body, body);
                frames_.pop_back();
                return Value(body);
            });
            return Flow::normal;
        }
        case Stmt::Kind::break_: return Flow::break_;
        case Stmt::Kind::continue_: return Flow::continue_;
        }
        return Flow::normal;
    }

    Flow exec_for(const Stmt &s, std::string &out) {
        Value seq = located(s.line, s.col, [&] { return eval(*s.expr); });
        Array items;
        if (seq.is_array()) items = seq.array();
        else if (seq.is_object())
            for (const auto &kv : seq.obj().items) items.emplace_back(kv.first);
        else if (seq.is_string())
            for (char c : seq.str()) items.emplace_back(std::string(1, c));
        else if (!seq.is_undefined() && !seq.is_none())
            fail(s.line, s.col, "cannot iterate over " + seq.to_string());
        auto bind = [&](Variables &frame, const Value &item) {
            if (s.targets.size() == 1) {
                frame[s.targets[0]] = item;
                return;
            }
            if (!item.is_array() || item.length() != s.targets.size())
                fail(s.line, s.col, "cannot unpack " + item.to_string() + " into " + std::to_string(s.targets.size()) + " names");
            for (size_t k = 0; k < s.targets.size(); ++k) frame[s.targets[k]] = item.array()[k];
        };
        if (s.filter) { // `for x in xs if cond`: filter first, so loop.length counts survivors
            Array kept;
            for (const Value &it : items) {
                Variables frame;
                bind(frame, it);
                frames_.push_back(std::move(frame));
                bool keep = eval(*s.filter).truthy();
                frames_.pop_back();
                if (keep) kept.push_back(it);
            }
            items.swap(kept);
        }
        if (items.empty()) return exec(s.else_body, out) == Flow::normal ? Flow::normal : Flow::normal;
        const size_t n = items.size();
        for (size_t i = 0; i < n; ++i) {
            if (++iterations_ > kMaxIterations) fail(s.line, s.col, "too many loop iterations");
            Variables frame;
            bind(frame, items[i]);
            Value loop = Value::object();
            Object &o = loop.obj();
            o.set("index", Value(i + 1));
            o.set("index0", Value(i));
            o.set("revindex", Value(n - i));
            o.set("revindex0", Value(n - i - 1));
            o.set("first", Value(i == 0));
            o.set("last", Value(i + 1 == n));
            o.set("length", Value(n));
            o.set("previtem", i > 0 ? items[i - 1] : Value());
            o.set("nextitem", i + 1 < n ? items[i + 1] : Value());
            o.set("cycle", Value::function([i](std::vector<Value> &a, Kwargs &) {
                return a.empty() ? Value() : a[i % a.size()];
            }));
            frame["loop"] = loop;
            frames_.push_back(std::move(frame));
            Flow f = exec(s.body, out);
            frames_.pop_back();
            if (f == Flow::break_) break;
        }
        return Flow::normal;
    }

    Value eval(const Expr &e) {
        switch (e.kind) {
        case Expr::Kind::literal: return e.value;
        case Expr::Kind::name: return lookup(e.name);
        case Expr::Kind::attr: {
            Value obj = eval(*e.args[0]);
            if (obj.is_object()) {
                // Dict methods win over keys of the same name (Jinja getattr).
                if (e.name == "items" || e.name == "keys" || e.name == "values" || e.name == "get")
                    return method(obj, e.name);
                return obj.get(e.name);
            }
            Value m = method(obj, e.name);
            return m;
        }
        case Expr::Kind::index: {
            Value obj = eval(*e.args[0]);
            Value key = eval(*e.args[1]);
            Value v = obj.get(key);
            if (v.is_undefined() && key.is_string() && !obj.is_object()) return method(obj, key.str());
            return v;
        }
        case Expr::Kind::slice: return slice(eval(*e.args[0]), e.args[1].get(), e.args[2].get(), e.args[3].get());
        case Expr::Kind::call: {
            const Expr &callee = *e.args[0];
            Value f = eval(callee);
            if (!f.is_callable()) {
                std::string what = callee.kind == Expr::Kind::name || callee.kind == Expr::Kind::attr ? callee.name : "expression";
                fail(e.line, e.col, "'" + what + "' is not a function (unsupported or undefined)");
            }
            std::vector<Value> args;
            for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
            Kwargs kw;
            for (const auto &[k, v] : e.kwargs) kw.items.emplace_back(k, eval(*v));
            return located(e.line, e.col, [&] { return f.fn()(args, kw); });
        }
        case Expr::Kind::filter: {
            Value subject = eval(*e.args[0]);
            std::vector<Value> args;
            for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
            Kwargs kw;
            for (const auto &[k, v] : e.kwargs) kw.items.emplace_back(k, eval(*v));
            return located(e.line, e.col, [&] { return call_filter(e.name, subject, args, kw); });
        }
        case Expr::Kind::test: {
            Value subject = eval(*e.args[0]);
            std::vector<Value> args;
            for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
            bool r = located(e.line, e.col, [&] { return call_test(e.name, subject, args); });
            return Value(e.negated ? !r : r);
        }
        case Expr::Kind::neg: {
            Value v = eval(*e.args[0]);
            if (v.kind() == Value::Kind::integer) return Value(-v.as_int());
            if (v.is_number()) return Value(-v.as_double());
            fail(e.line, e.col, "cannot negate " + v.to_string());
        }
        case Expr::Kind::pos: return eval(*e.args[0]);
        case Expr::Kind::not_: return Value(!eval(*e.args[0]).truthy());
        case Expr::Kind::and_: {
            Value l = eval(*e.args[0]);
            return l.truthy() ? eval(*e.args[1]) : l;
        }
        case Expr::Kind::or_: {
            Value l = eval(*e.args[0]);
            return l.truthy() ? l : eval(*e.args[1]);
        }
        case Expr::Kind::ternary:
            if (eval(*e.args[0]).truthy()) return eval(*e.args[1]);
            return e.args[2] ? eval(*e.args[2]) : Value();
        case Expr::Kind::list: {
            Array a;
            for (const auto &x : e.args) a.push_back(eval(*x));
            return Value(std::move(a));
        }
        case Expr::Kind::dict: {
            Value o = Value::object();
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                Value k = eval(*e.args[i]);
                o.obj().set(k.to_string(), eval(*e.args[i + 1]));
            }
            return o;
        }
        case Expr::Kind::binary: return located(e.line, e.col, [&] { return binary(e.name, eval(*e.args[0]), eval(*e.args[1])); });
        }
        return Value();
    }

    Value slice(const Value &v, const Expr *a, const Expr *b, const Expr *c) {
        const int64_t n = static_cast<int64_t>(v.length());
        int64_t step = c ? eval(*c).as_int() : 1;
        if (step == 0) throw TemplateError("slice step cannot be zero");
        auto norm = [&](const Expr *x, int64_t def) {
            if (!x) return def;
            Value val = eval(*x);
            if (val.is_none()) return def;
            int64_t i = val.as_int();
            if (i < 0) i += n;
            return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
        };
        int64_t start = norm(a, step > 0 ? 0 : n - 1), stop = norm(b, step > 0 ? n : -1);
        if (v.is_string()) {
            std::string out;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out += v.str()[static_cast<size_t>(i)];
            return Value(out);
        }
        if (v.is_array()) {
            Array out;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(v.array()[static_cast<size_t>(i)]);
            return Value(std::move(out));
        }
        if (v.is_undefined() || v.is_none()) return Value(Array{});
        throw TemplateError("cannot slice " + v.to_string());
    }

    static Value binary(const std::string &op, const Value &l, const Value &r) {
        if (op == "==") return Value(l == r);
        if (op == "!=") return Value(!(l == r));
        if (op == "<") return Value(Value::compare(l, r) < 0);
        if (op == "<=") return Value(Value::compare(l, r) <= 0);
        if (op == ">") return Value(Value::compare(l, r) > 0);
        if (op == ">=") return Value(Value::compare(l, r) >= 0);
        if (op == "in" || op == "not in") {
            bool found = false;
            if (r.is_string()) found = r.str().find(l.to_string()) != std::string::npos;
            else if (r.is_array())
                for (const Value &x : r.array()) found = found || x == l;
            else if (r.is_object()) found = l.is_string() && r.obj().find(l.str());
            return Value(op == "in" ? found : !found);
        }
        if (op == "~") return Value(l.to_string() + r.to_string());
        if (op == "+") {
            if (l.is_string() && r.is_string()) return Value(l.str() + r.str());
            if (l.is_array() && r.is_array()) {
                Array a = l.array();
                a.insert(a.end(), r.array().begin(), r.array().end());
                return Value(std::move(a));
            }
        }
        if (op == "*" && l.is_string() && r.kind() == Value::Kind::integer) {
            if (static_cast<double>(l.str().size()) * static_cast<double>(r.as_int()) > 16e6)
                throw TemplateError("string repetition too long");
            std::string s;
            for (int64_t i = 0; i < r.as_int(); ++i) s += l.str();
            return Value(s);
        }
        const bool nums = (l.is_number() || l.kind() == Value::Kind::boolean) && (r.is_number() || r.kind() == Value::Kind::boolean);
        if (!nums) throw TemplateError(fmt::format("unsupported operand types for '{}': {} and {}", op, l.to_json(), r.to_json()));
        const bool ints = l.kind() != Value::Kind::number && r.kind() != Value::Kind::number;
        if (op == "+") return ints ? Value(l.as_int() + r.as_int()) : Value(l.as_double() + r.as_double());
        if (op == "-") return ints ? Value(l.as_int() - r.as_int()) : Value(l.as_double() - r.as_double());
        if (op == "*") return ints ? Value(l.as_int() * r.as_int()) : Value(l.as_double() * r.as_double());
        if (op == "/") {
            if (r.as_double() == 0) throw TemplateError("division by zero");
            return Value(l.as_double() / r.as_double());
        }
        if (op == "//" || op == "%") {
            if (r.as_double() == 0) throw TemplateError("division by zero");
            if (ints) {
                int64_t a = l.as_int(), b = r.as_int();
                int64_t q = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
                return op == "//" ? Value(q) : Value(a - q * b);
            }
            double q = std::floor(l.as_double() / r.as_double());
            return op == "//" ? Value(q) : Value(l.as_double() - q * r.as_double());
        }
        if (op == "**") return ints && r.as_int() >= 0 ? Value(static_cast<int64_t>(std::pow(l.as_int(), r.as_int())))
                                                       : Value(std::pow(l.as_double(), r.as_double()));
        throw TemplateError("unsupported operator '" + op + "'");
    }

    std::vector<Variables> frames_;
    uint64_t iterations_ = 0;
};

} // namespace

std::string render(const Body &program, const Variables &vars) {
    Interpreter it(vars);
    std::string out;
    it.exec(program, out);
    return out;
}

} // namespace skulk::model::jinja
