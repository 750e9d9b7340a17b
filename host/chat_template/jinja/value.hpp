// Values of the chat-template language: Python/Jinja semantics (truthiness,
// str(), ==, ordering) over undefined, none, bool, int, float, string, list,
// dict (insertion-ordered, like Python's) and callables.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skulk::model::jinja {

// Any failure while parsing or rendering; the message says what and where.
struct TemplateError : std::runtime_error {
    using runtime_error::runtime_error;
};

class Value;
using Array = std::vector<Value>;
struct Object;
struct Kwargs;
using Callable = std::function<Value(std::vector<Value> &args, Kwargs &kwargs)>;

class Value {
public:
    enum class Kind { undefined, none, boolean, integer, number, string, array, object, callable };

    Value() = default; // undefined
    static Value none() { return Value(Kind::none); }
    Value(bool b) : kind_(Kind::boolean), i_(b) {}
    Value(int v) : kind_(Kind::integer), i_(v) {}
    Value(int64_t v) : kind_(Kind::integer), i_(v) {}
    Value(size_t v) : kind_(Kind::integer), i_(static_cast<int64_t>(v)) {}
    Value(double v) : kind_(Kind::number), d_(v) {}
    Value(std::string s) : kind_(Kind::string), s_(std::make_shared<std::string>(std::move(s))) {}
    Value(const char *s) : Value(std::string(s)) {}
    Value(std::string_view s) : Value(std::string(s)) {}
    Value(Array a) : kind_(Kind::array), a_(std::make_shared<Array>(std::move(a))) {}
    static Value object();
    static Value function(Callable f);
    // Parses JSON text (tool schemas, tool-call arguments); throws TemplateError.
    static Value from_json(std::string_view text);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::undefined; }
    bool is_none() const { return kind_ == Kind::none; }
    bool is_string() const { return kind_ == Kind::string; }
    bool is_array() const { return kind_ == Kind::array; }
    bool is_object() const { return kind_ == Kind::object; }
    bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::number; }
    bool is_callable() const { return kind_ == Kind::callable; }

    bool truthy() const;
    int64_t as_int() const;
    double as_double() const;
    const std::string &str() const; // strings only
    Array &array() const;           // arrays only (shared: mutations are visible)
    Object &obj() const;            // objects only
    const Callable &fn() const;

    // Python str(); tojson() is json.dumps (", " / ": " separators, or
    // "," and an indent when indent >= 0).
    std::string to_string() const;
    std::string to_json(int indent = -1) const;

    // Attribute / item access: dict key, list index (negative from the end),
    // string index; undefined when absent.
    Value get(const Value &key) const;
    Value get(const std::string &key) const;
    size_t length() const;

    friend bool operator==(const Value &a, const Value &b);
    // <, for sort and comparisons; throws TemplateError for unlike types.
    static int compare(const Value &a, const Value &b);

private:
    explicit Value(Kind k) : kind_(k) {}
    void json_into(std::string &out, int indent, int depth) const;

    Kind kind_ = Kind::undefined;
    int64_t i_ = 0;
    double d_ = 0;
    std::shared_ptr<std::string> s_;
    std::shared_ptr<Array> a_;
    std::shared_ptr<Object> o_;
    std::shared_ptr<Callable> f_;
};

struct Object {
    std::vector<std::pair<std::string, Value>> items;
    const Value *find(std::string_view key) const;
    void set(const std::string &key, Value v);
};

struct Kwargs {
    std::vector<std::pair<std::string, Value>> items;
    const Value *find(std::string_view key) const {
        for (const auto &kv : items)
            if (kv.first == key) return &kv.second;
        return nullptr;
    }
};

} // namespace skulk::model::jinja
