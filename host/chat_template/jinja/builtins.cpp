// Filters, tests, methods and global functions of the template language.
#include "chat_template/jinja/interpreter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <ctime>

namespace skulk::model::jinja {

namespace {

const char *const kSpace = " \t\n\r\f\v";

std::string strip(const std::string &s, const std::string &chars, bool left, bool right) {
    size_t b = 0, e = s.size();
    if (left) {
        b = s.find_first_not_of(chars);
        if (b == std::string::npos) return "";
    }
    if (right) {
        size_t last = s.find_last_not_of(chars);
        e = last == std::string::npos ? b : last + 1;
    }
    return s.substr(b, e - b);
}

std::string arg_str(const std::vector<Value> &a, size_t i, const std::string &def) {
    return i < a.size() && !a[i].is_none() && !a[i].is_undefined() ? a[i].to_string() : def;
}

Value split(const std::string &s, const std::vector<Value> &a) {
    Array out;
    int64_t maxsplit = a.size() > 1 ? a[1].as_int() : -1;
    if (a.empty() || a[0].is_none()) { // whitespace runs
        size_t i = 0;
        while (true) {
            i = s.find_first_not_of(kSpace, i);
            if (i == std::string::npos) break;
            if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
                out.emplace_back(strip(s.substr(i), kSpace, false, true));
                break;
            }
            size_t j = s.find_first_of(kSpace, i);
            out.emplace_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
            if (j == std::string::npos) break;
            i = j;
        }
        return Value(std::move(out));
    }
    const std::string sep = a[0].to_string();
    if (sep.empty()) throw TemplateError("split(): empty separator");
    size_t i = 0;
    while (true) {
        size_t j = s.find(sep, i);
        if (j == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
            out.emplace_back(s.substr(i));
            break;
        }
        out.emplace_back(s.substr(i, j - i));
        i = j + sep.size();
    }
    return Value(std::move(out));
}

std::string replace_all(std::string s, const std::string &from, const std::string &to, int64_t count = -1) {
    if (from.empty()) return s;
    size_t i = 0;
    for (int64_t n = 0; count < 0 || n < count; ++n) {
        i = s.find(from, i);
        if (i == std::string::npos) break;
        s.replace(i, from.size(), to);
        i += to.size();
    }
    return s;
}

std::string case_map(std::string s, int mode) { // 0 lower, 1 upper, 2 capitalize, 3 title
    bool start = true;
    for (char &c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (mode == 0) c = static_cast<char>(std::tolower(u));
        else if (mode == 1) c = static_cast<char>(std::toupper(u));
        else if (mode == 2) c = static_cast<char>(start ? std::toupper(u) : std::tolower(u)), start = false;
        else {
            c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
            start = !std::isalnum(u);
        }
    }
    return s;
}

Value items_of(const Value &v) {
    Array out;
    if (v.is_object())
        for (const auto &[k, x] : v.obj().items) out.push_back(Value(Array{Value(k), x}));
    return Value(std::move(out));
}

Value attribute_path(const Value &v, const std::string &path) {
    Value cur = v;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('.', i);
        std::string part = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
        int64_t index = 0;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
        bool numeric = !part.empty() && ec == std::errc() && end == part.data() + part.size();
        cur = numeric && cur.is_array() ? cur.get(Value(index)) : cur.get(part);
        if (j == std::string::npos) break;
        i = j + 1;
    }
    return cur;
}

template <typename F> Value fn(F f) {
    return Value::function([f](std::vector<Value> &a, Kwargs &k) { return f(a, k); });
}

} // namespace

bool call_test(const std::string &name, const Value &v, std::vector<Value> &a) {
    using K = Value::Kind;
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.is_object();
    if (name == "sequence") return v.is_array() || v.is_string() || v.is_object();
    if (name == "iterable") return v.is_array() || v.is_string() || v.is_object();
    if (name == "number") return v.is_number();
    if (name == "integer") return v.kind() == K::integer;
    if (name == "float") return v.kind() == K::number;
    if (name == "boolean") return v.kind() == K::boolean;
    if (name == "true") return v.kind() == K::boolean && v.truthy();
    if (name == "false") return v.kind() == K::boolean && !v.truthy();
    if (name == "callable") return v.is_callable();
    if (name == "lower") return v.is_string() && case_map(v.str(), 0) == v.str();
    if (name == "upper") return v.is_string() && case_map(v.str(), 1) == v.str();
    if (name == "odd") return v.as_int() % 2 != 0;
    if (name == "even") return v.as_int() % 2 == 0;
    if (name == "divisibleby") return !a.empty() && a[0].as_int() != 0 && v.as_int() % a[0].as_int() == 0;
    if (name == "equalto" || name == "eq" || name == "sameas") return !a.empty() && v == a[0];
    if (name == "ne") return !a.empty() && !(v == a[0]);
    if (name == "in") {
        if (a.empty()) return false;
        if (a[0].is_string()) return a[0].str().find(v.to_string()) != std::string::npos;
        if (a[0].is_array()) return std::find(a[0].array().begin(), a[0].array().end(), v) != a[0].array().end();
        if (a[0].is_object()) return v.is_string() && a[0].obj().find(v.str());
        return false;
    }
    throw TemplateError("unsupported test '" + name + "'");
}

Value call_filter(const std::string &name, Value &v, std::vector<Value> &a, Kwargs &kw) {
    if (name == "trim" || name == "strip") return Value(strip(v.to_string(), arg_str(a, 0, kSpace), true, true));
    if (name == "length" || name == "count") return Value(v.length());
    if (name == "tojson") {
        int indent = -1;
        if (const Value *i = kw.find("indent")) indent = static_cast<int>(i->as_int());
        else if (!a.empty()) indent = static_cast<int>(a[0].as_int());
        return Value(v.to_json(indent));
    }
    if (name == "upper") return Value(case_map(v.to_string(), 1));
    if (name == "lower") return Value(case_map(v.to_string(), 0));
    if (name == "capitalize") return Value(case_map(v.to_string(), 2));
    if (name == "title") return Value(case_map(v.to_string(), 3));
    if (name == "default" || name == "d") {
        bool boolean = (a.size() > 1 && a[1].truthy()) || (kw.find("boolean") && kw.find("boolean")->truthy());
        bool use_default = boolean ? !v.truthy() : v.is_undefined();
        return use_default ? (a.empty() ? Value(std::string()) : a[0]) : v;
    }
    if (name == "items") return items_of(v);
    if (name == "list") {
        if (v.is_array()) return v;
        Array out;
        if (v.is_string())
            for (char c : v.str()) out.emplace_back(std::string(1, c));
        if (v.is_object())
            for (const auto &kv : v.obj().items) out.emplace_back(kv.first);
        return Value(std::move(out));
    }
    if (name == "string") return Value(v.to_string());
    if (name == "int") return Value(v.as_int());
    if (name == "float") return Value(v.as_double());
    if (name == "abs") return v.kind() == Value::Kind::integer ? Value(static_cast<int64_t>(std::llabs(v.as_int()))) : Value(std::fabs(v.as_double()));
    if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") return v; // no autoescape in chat templates
    if (name == "first") return v.length() ? v.get(Value(static_cast<int64_t>(0))) : Value();
    if (name == "last") return v.length() ? v.get(Value(static_cast<int64_t>(-1))) : Value();
    if (name == "reverse") {
        if (v.is_string()) return Value(std::string(v.str().rbegin(), v.str().rend()));
        Array out = v.is_array() ? v.array() : Array{};
        std::reverse(out.begin(), out.end());
        return Value(std::move(out));
    }
    if (name == "join") {
        std::string sep = arg_str(a, 0, ""), out;
        const Value *attr = kw.find("attribute");
        if (v.is_array())
            for (size_t i = 0; i < v.length(); ++i)
                out += (i ? sep : "") + (attr ? attribute_path(v.array()[i], attr->to_string()) : v.array()[i]).to_string();
        return Value(out);
    }
    if (name == "replace") {
        if (a.size() < 2) throw TemplateError("replace needs two arguments");
        return Value(replace_all(v.to_string(), a[0].to_string(), a[1].to_string(), a.size() > 2 ? a[2].as_int() : -1));
    }
    if (name == "unique") {
        Array out;
        if (v.is_array())
            for (const Value &x : v.array())
                if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
        return Value(std::move(out));
    }
    if (name == "sort") {
        Array out = v.is_array() ? v.array() : Array{};
        const Value *attr = kw.find("attribute");
        bool rev = (kw.find("reverse") && kw.find("reverse")->truthy()) || (!a.empty() && a[0].truthy());
        std::stable_sort(out.begin(), out.end(), [&](const Value &x, const Value &y) {
            const Value kx = attr ? attribute_path(x, attr->to_string()) : x;
            const Value ky = attr ? attribute_path(y, attr->to_string()) : y;
            return rev ? Value::compare(ky, kx) < 0 : Value::compare(kx, ky) < 0;
        });
        return Value(std::move(out));
    }
    if (name == "map") {
        Array out;
        const Value *attr = kw.find("attribute");
        if (v.is_array())
            for (Value x : v.array()) {
                if (attr) {
                    Value r = attribute_path(x, attr->to_string());
                    if (r.is_undefined())
                        if (const Value *d = kw.find("default")) r = *d;
                    out.push_back(r);
                } else {
                    if (a.empty()) throw TemplateError("map needs a filter name or attribute=");
                    std::vector<Value> rest(a.begin() + 1, a.end());
                    Kwargs none;
                    out.push_back(call_filter(a[0].to_string(), x, rest, none));
                }
            }
        return Value(std::move(out));
    }
    if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
        const bool by_attr = name == "selectattr" || name == "rejectattr";
        const bool keep_if = name == "selectattr" || name == "select";
        Array out;
        if (v.is_array())
            for (const Value &x : v.array()) {
                size_t k = 0;
                Value subject = x;
                if (by_attr) {
                    if (a.empty()) throw TemplateError(name + " needs an attribute name");
                    subject = attribute_path(x, a[0].to_string());
                    k = 1;
                }
                bool ok;
                if (k < a.size()) {
                    std::vector<Value> targs(a.begin() + static_cast<long>(k) + 1, a.end());
                    ok = call_test(a[k].to_string(), subject, targs);
                } else {
                    ok = subject.truthy();
                }
                if (ok == keep_if) out.push_back(x);
            }
        return Value(std::move(out));
    }
    if (name == "dictsort") {
        Value items = items_of(v);
        std::stable_sort(items.array().begin(), items.array().end(),
                         [](const Value &x, const Value &y) { return Value::compare(x.array()[0], y.array()[0]) < 0; });
        return items;
    }
    if (name == "indent") {
        int64_t width = a.empty() ? 4 : a[0].as_int();
        bool first = (a.size() > 1 && a[1].truthy()) || (kw.find("first") && kw.find("first")->truthy());
        std::string pad(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
        std::string s = v.to_string(), out = first ? pad : "";
        for (size_t i = 0; i < s.size(); ++i) {
            out += s[i];
            if (s[i] == '\n' && i + 1 < s.size() && s[i + 1] != '\n') out += pad;
        }
        return Value(out);
    }
    throw TemplateError("unsupported filter '" + name + "'");
}

Value method(const Value &self, const std::string &name) {
    if (self.is_string()) {
        const std::string s = self.str();
        if (name == "strip") return fn([s](auto &a, auto &) { return Value(strip(s, arg_str(a, 0, kSpace), true, true)); });
        if (name == "lstrip") return fn([s](auto &a, auto &) { return Value(strip(s, arg_str(a, 0, kSpace), true, false)); });
        if (name == "rstrip") return fn([s](auto &a, auto &) { return Value(strip(s, arg_str(a, 0, kSpace), false, true)); });
        if (name == "startswith")
            return fn([s](auto &a, auto &) { return Value(!a.empty() && s.rfind(a[0].to_string(), 0) == 0); });
        if (name == "endswith")
            return fn([s](auto &a, auto &) {
                std::string t = a.empty() ? "" : a[0].to_string();
                return Value(s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0);
            });
        if (name == "split") return fn([s](auto &a, auto &) { return split(s, a); });
        if (name == "replace")
            return fn([s](auto &a, auto &) {
                if (a.size() < 2) throw TemplateError("replace() needs two arguments");
                return Value(replace_all(s, a[0].to_string(), a[1].to_string(), a.size() > 2 ? a[2].as_int() : -1));
            });
        if (name == "upper") return fn([s](auto &, auto &) { return Value(case_map(s, 1)); });
        if (name == "lower") return fn([s](auto &, auto &) { return Value(case_map(s, 0)); });
        if (name == "title") return fn([s](auto &, auto &) { return Value(case_map(s, 3)); });
        if (name == "capitalize") return fn([s](auto &, auto &) { return Value(case_map(s, 2)); });
        if (name == "find")
            return fn([s](auto &a, auto &) {
                size_t p = s.find(arg_str(a, 0, ""));
                return Value(p == std::string::npos ? int64_t{-1} : static_cast<int64_t>(p));
            });
        if (name == "count")
            return fn([s](auto &a, auto &) {
                std::string t = arg_str(a, 0, "");
                int64_t n = 0;
                for (size_t p = t.empty() ? std::string::npos : s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
                return Value(n);
            });
        if (name == "join")
            return fn([s](auto &a, auto &) {
                std::string out;
                if (!a.empty() && a[0].is_array())
                    for (size_t i = 0; i < a[0].length(); ++i) out += (i ? s : "") + a[0].array()[i].to_string();
                return Value(out);
            });
        return Value();
    }
    if (self.is_object()) {
        Value o = self;
        if (name == "items") return fn([o](auto &, auto &) { return items_of(o); });
        if (name == "keys")
            return fn([o](auto &, auto &) {
                Array k;
                for (const auto &kv : o.obj().items) k.emplace_back(kv.first);
                return Value(std::move(k));
            });
        if (name == "values")
            return fn([o](auto &, auto &) {
                Array k;
                for (const auto &kv : o.obj().items) k.push_back(kv.second);
                return Value(std::move(k));
            });
        if (name == "get")
            return fn([o](auto &a, auto &) {
                Value v = a.empty() ? Value() : o.get(a[0]);
                return v.is_undefined() ? (a.size() > 1 ? a[1] : Value::none()) : v;
            });
        return Value();
    }
    if (self.is_array()) {
        Value l = self;
        if (name == "append")
            return fn([l](auto &a, auto &) {
                for (auto &x : a) l.array().push_back(x);
                return Value::none();
            });
        if (name == "pop")
            return fn([l](auto &a, auto &) {
                Array &arr = l.array();
                if (arr.empty()) throw TemplateError("pop from an empty list");
                int64_t i = a.empty() ? -1 : a[0].as_int();
                if (i < 0) i += static_cast<int64_t>(arr.size());
                if (i < 0 || i >= static_cast<int64_t>(arr.size())) throw TemplateError("pop index out of range");
                Value v = arr[static_cast<size_t>(i)];
                arr.erase(arr.begin() + i);
                return v;
            });
        if (name == "index")
            return fn([l](auto &a, auto &) {
                for (size_t i = 0; i < l.length(); ++i)
                    if (!a.empty() && l.array()[i] == a[0]) return Value(i);
                throw TemplateError("value is not in the list");
            });
        return Value();
    }
    return Value();
}

Value global_function(const std::string &name) {
    if (name == "raise_exception")
        return fn([](auto &a, auto &) -> Value {
            throw TemplateError("template raised an exception: " + arg_str(a, 0, "(no message)"));
        });
    if (name == "namespace")
        return fn([](auto &a, Kwargs &k) {
            Value ns = Value::object();
            if (!a.empty() && a[0].is_object()) ns.obj().items = a[0].obj().items;
            for (const auto &[key, v] : k.items) ns.obj().set(key, v);
            return ns;
        });
    if (name == "dict")
        return fn([](auto &, Kwargs &k) {
            Value d = Value::object();
            for (const auto &[key, v] : k.items) d.obj().set(key, v);
            return d;
        });
    if (name == "range")
        return fn([](auto &a, auto &) {
            if (a.empty()) throw TemplateError("range() needs an argument");
            int64_t start = 0, stop, step = 1;
            if (a.size() == 1) stop = a[0].as_int();
            else start = a[0].as_int(), stop = a[1].as_int();
            if (a.size() > 2) step = a[2].as_int();
            if (step == 0) throw TemplateError("range() step cannot be zero");
            Array out;
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                if (out.size() >= 1'000'000) throw TemplateError("range() too long");
                out.emplace_back(i);
            }
            return Value(std::move(out));
        });
    if (name == "strftime_now")
        return fn([](auto &a, auto &) {
            std::time_t t = std::time(nullptr);
            std::tm tm{};
            localtime_r(&t, &tm);
            char buf[256];
            size_t n = std::strftime(buf, sizeof buf, arg_str(a, 0, "%Y-%m-%d").c_str(), &tm);
            return Value(std::string(buf, n));
        });
    return Value();
}

} // namespace skulk::model::jinja
