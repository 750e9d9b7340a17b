#include "chat_template/jinja/value.hpp"

#include <skulk/json_text.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace skulk::model::jinja {

Value Value::object() {
    Value v(Kind::object);
    v.o_ = std::make_shared<Object>();
    return v;
}

Value Value::function(Callable f) {
    Value v(Kind::callable);
    v.f_ = std::make_shared<Callable>(std::move(f));
    return v;
}

namespace {
Value from_nlohmann(const nlohmann::ordered_json &j) {
    switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
        Array a;
        for (const auto &e : j) a.push_back(from_nlohmann(e));
        return Value(std::move(a));
    }
    default: {
        Value o = Value::object();
        for (auto it = j.begin(); it != j.end(); ++it) o.obj().set(it.key(), from_nlohmann(it.value()));
        return o;
    }
    }
}
} // namespace

Value Value::from_json(std::string_view text) {
    try {
        return from_nlohmann(nlohmann::ordered_json::parse(text));
    } catch (const nlohmann::json::exception &e) {
        throw TemplateError(std::string("invalid JSON: ") + e.what());
    }
}

bool Value::truthy() const {
    switch (kind_) {
    case Kind::undefined: case Kind::none: return false;
    case Kind::boolean: case Kind::integer: return i_ != 0;
    case Kind::number: return d_ != 0.0;
    case Kind::string: return !s_->empty();
    case Kind::array: return !a_->empty();
    case Kind::object: return !o_->items.empty();
    case Kind::callable: return true;
    }
    return false;
}

int64_t Value::as_int() const {
    if (kind_ == Kind::number) return static_cast<int64_t>(d_);
    if (kind_ == Kind::boolean || kind_ == Kind::integer) return i_;
    if (kind_ == Kind::string) {
        try {
            return std::stoll(*s_);
        } catch (...) {
            return 0;
        }
    }
    return 0;
}

double Value::as_double() const {
    if (kind_ == Kind::number) return d_;
    if (kind_ == Kind::string) {
        try {
            return std::stod(*s_);
        } catch (...) {
            return 0;
        }
    }
    return static_cast<double>(as_int());
}

const std::string &Value::str() const {
    if (kind_ != Kind::string) throw TemplateError("expected a string");
    return *s_;
}
Array &Value::array() const {
    if (kind_ != Kind::array) throw TemplateError("expected a list");
    return *a_;
}
Object &Value::obj() const {
    if (kind_ != Kind::object) throw TemplateError("expected a mapping");
    return *o_;
}
const Callable &Value::fn() const {
    if (kind_ != Kind::callable) throw TemplateError("value is not callable");
    return *f_;
}

namespace {
std::string python_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    std::string s = fmt::format("{}", d);
    if (s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}
// tojson: invalid UTF-8 bytes become U+FFFD, so the output is always valid JSON.
void json_string(std::string &out, const std::string &s) { skulk::append_json_string(out, s); }
std::string python_repr_string(const std::string &s) {
    // Python's repr: single quotes unless the text has one and no double.
    char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
    std::string out(1, q);
    for (char c : s) {
        if (c == q || c == '\\') out += '\\', out += c;
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    return out + q;
}
std::string repr(const Value &v) { return v.is_string() ? python_repr_string(v.str()) : v.to_string(); }
} // namespace

std::string Value::to_string() const {
    switch (kind_) {
    case Kind::undefined: return "";
    case Kind::none: return "None";
    case Kind::boolean: return i_ ? "True" : "False";
    case Kind::integer: return std::to_string(i_);
    case Kind::number: return python_float(d_);
    case Kind::string: return *s_;
    case Kind::array: {
        std::string s = "[";
        for (size_t i = 0; i < a_->size(); ++i) s += (i ? ", " : "") + repr((*a_)[i]);
        return s + "]";
    }
    case Kind::object: {
        std::string s = "{";
        for (size_t i = 0; i < o_->items.size(); ++i)
            s += (i ? ", " : "") + python_repr_string(o_->items[i].first) + ": " + repr(o_->items[i].second);
        return s + "}";
    }
    case Kind::callable: return "<function>";
    }
    return "";
}

void Value::json_into(std::string &out, int indent, int depth) const {
    auto newline = [&](int d) {
        if (indent >= 0) {
            out += '\n';
            out.append(static_cast<size_t>(indent * d), ' ');
        }
    };
    const char *item_sep = indent >= 0 ? "," : ", ";
    switch (kind_) {
    case Kind::undefined: case Kind::none: out += "null"; return;
    case Kind::boolean: out += i_ ? "true" : "false"; return;
    case Kind::integer: out += std::to_string(i_); return;
    case Kind::number:
        out += std::isfinite(d_) ? python_float(d_) : (std::isnan(d_) ? "NaN" : (d_ > 0 ? "Infinity" : "-Infinity"));
        return;
    case Kind::string: json_string(out, *s_); return;
    case Kind::array:
        if (a_->empty()) {
            out += "[]";
            return;
        }
        out += '[';
        for (size_t i = 0; i < a_->size(); ++i) {
            if (i) out += item_sep;
            newline(depth + 1);
            (*a_)[i].json_into(out, indent, depth + 1);
        }
        newline(depth);
        out += ']';
        return;
    case Kind::object:
        if (o_->items.empty()) {
            out += "{}";
            return;
        }
        out += '{';
        for (size_t i = 0; i < o_->items.size(); ++i) {
            if (i) out += item_sep;
            newline(depth + 1);
            json_string(out, o_->items[i].first);
            out += ": ";
            o_->items[i].second.json_into(out, indent, depth + 1);
        }
        newline(depth);
        out += '}';
        return;
    case Kind::callable: throw TemplateError("a function cannot be converted to JSON");
    }
}

std::string Value::to_json(int indent) const {
    std::string out;
    json_into(out, indent, 0);
    return out;
}

Value Value::get(const std::string &key) const {
    if (kind_ == Kind::object) {
        const Value *v = o_->find(key);
        return v ? *v : Value();
    }
    return Value();
}

Value Value::get(const Value &key) const {
    if (kind_ == Kind::object && key.is_string()) return get(key.str());
    if ((kind_ == Kind::array || kind_ == Kind::string) && key.kind() == Kind::integer) {
        int64_t n = static_cast<int64_t>(length());
        int64_t i = key.as_int();
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value();
        if (kind_ == Kind::array) return (*a_)[static_cast<size_t>(i)];
        return Value(std::string(1, (*s_)[static_cast<size_t>(i)]));
    }
    return Value();
}

size_t Value::length() const {
    switch (kind_) {
    case Kind::string: return s_->size();
    case Kind::array: return a_->size();
    case Kind::object: return o_->items.size();
    default: return 0;
    }
}

bool operator==(const Value &a, const Value &b) {
    if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
    if (a.kind_ == Value::Kind::boolean && b.kind_ == Value::Kind::boolean) return a.i_ == b.i_;
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
    case Value::Kind::undefined: case Value::Kind::none: return true;
    case Value::Kind::string: return *a.s_ == *b.s_;
    case Value::Kind::array: return *a.a_ == *b.a_;
    case Value::Kind::object: {
        if (a.o_->items.size() != b.o_->items.size()) return false;
        for (const auto &[k, v] : a.o_->items) {
            const Value *o = b.o_->find(k);
            if (!o || !(*o == v)) return false;
        }
        return true;
    }
    default: return a.f_ == b.f_;
    }
}

int Value::compare(const Value &a, const Value &b) {
    if ((a.is_number() || a.kind_ == Kind::boolean) && (b.is_number() || b.kind_ == Kind::boolean)) {
        double x = a.as_double(), y = b.as_double();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) return a.str().compare(b.str()) < 0 ? -1 : (a.str() == b.str() ? 0 : 1);
    if (a.is_array() && b.is_array()) {
        for (size_t i = 0; i < a.length() && i < b.length(); ++i)
            if (int c = compare(a.array()[i], b.array()[i])) return c;
        return a.length() < b.length() ? -1 : (a.length() > b.length() ? 1 : 0);
    }
    throw TemplateError("cannot compare these values");
}

const Value *Object::find(std::string_view key) const {
    for (const auto &kv : items)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

void Object::set(const std::string &key, Value v) {
    for (auto &kv : items)
        if (kv.first == key) {
            kv.second = std::move(v);
            return;
        }
    items.emplace_back(key, std::move(v));
}

} // namespace skulk::model::jinja
