// `info` and `tokenize`: read-only views of a GGUF file.
#include "commands.hpp"

#include "gguf/gguf.hpp"
#include "tokenizer/vocab.hpp"
#include "quant/types.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <stdexcept>

namespace skulk::tools::gguf {

using namespace skulk::model;

namespace {

constexpr size_t kArrayHead = 8; // array elements shown

nlohmann::json scalar_json(const GgufValue &v) {
    switch (v.type()) {
    case GgufValueType::string: return std::string(*v.as_string());
    case GgufValueType::boolean: return *v.as_bool();
    case GgufValueType::f32: case GgufValueType::f64: return *v.as_f64();
    case GgufValueType::i8: case GgufValueType::i16: case GgufValueType::i32: case GgufValueType::i64:
        return *v.as_i64();
    default: return *v.as_u64();
    }
}

nlohmann::json value_json(const GgufValue &v, bool full) {
    if (!v.is_array()) return scalar_json(v);
    nlohmann::json head = nlohmann::json::array();
    size_t n = full ? v.array_size() : std::min(v.array_size(), kArrayHead);
    for (size_t i = 0; i < n; ++i) {
        if (v.array_type() == GgufValueType::string) head.push_back(std::string(v.strings()[i]));
        else if (v.array_type() == GgufValueType::f32 || v.array_type() == GgufValueType::f64) head.push_back(*v.elem_f64(i));
        else head.push_back(*v.elem_i64(i));
    }
    return {{"type", std::string(to_string(v.array_type()))}, {"count", v.array_size()}, {"values", head}};
}

std::string type_name(uint32_t t) {
    const auto *tt = quant::find_type(t);
    return tt ? std::string(tt->name) : std::to_string(t);
}

std::string shape(const GgufTensorInfo &t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
    return s + "]";
}

} // namespace

int info_command(const std::vector<std::string> &args) {
    std::string path;
    bool json = false, full = false;
    for (const auto &a : args) {
        if (a == "--json") json = true;
        else if (a == "--full") full = true;
        else if (path.empty()) path = a;
        else throw std::invalid_argument("unexpected argument '" + a + "'");
    }
    if (path.empty()) throw std::invalid_argument("usage: skulk-gguf info FILE [--json] [--full]");
    auto f = GgufFile::open(path);
    if (json) {
        nlohmann::json j;
        j["file"] = path;
        j["version"] = f->version();
        j["alignment"] = f->alignment();
        j["file_size"] = f->file_size();
        j["data_offset"] = f->data_offset();
        nlohmann::json md = nlohmann::json::object();
        for (const auto &kv : f->metadata()) md[std::string(kv.key)] = value_json(kv.value, full);
        j["metadata"] = md;
        nlohmann::json ts = nlohmann::json::array();
        for (const auto &t : f->tensors()) {
            nlohmann::json ne = nlohmann::json::array();
            for (uint32_t d = 0; d < t.n_dims; ++d) ne.push_back(t.ne[d]);
            ts.push_back({{"name", t.name}, {"type", type_name(t.type)}, {"ne", ne}, {"offset", t.offset},
                          {"nbytes", t.nbytes}});
        }
        j["tensors"] = ts;
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }
    std::cout << fmt::format("{}: GGUF v{}, {} bytes, alignment {}, {} metadata keys, {} tensors\n", path,
                             f->version(), f->file_size(), f->alignment(), f->metadata().size(), f->tensors().size());
    for (const auto &kv : f->metadata()) {
        auto j = value_json(kv.value, false);
        std::string shown = kv.value.is_array()
                                ? fmt::format("[{} x {}] {}", j["count"].get<size_t>(), j["type"].get<std::string>(),
                                              j["values"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                                : j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (shown.size() > 160) shown = shown.substr(0, 157) + "...";
        std::cout << fmt::format("  {:<45} {}\n", kv.key, shown);
    }
    std::cout << fmt::format("  {:<32} {:<6} {:<20} {:>12} {:>12}\n", "tensor", "type", "shape", "offset", "bytes");
    for (const auto &t : f->tensors())
        std::cout << fmt::format("  {:<32} {:<6} {:<20} {:>12} {:>12}\n", t.name, type_name(t.type), shape(t), t.offset,
                                 t.nbytes);
    return 0;
}

int tokenize_command(const std::vector<std::string> &args) {
    std::vector<std::string> pos;
    bool parse_special = false, add_special = true;
    for (const auto &a : args) {
        if (a == "--parse-special") parse_special = true;
        else if (a == "--no-add-special") add_special = false;
        else pos.push_back(a);
    }
    if (pos.size() != 2)
        throw std::invalid_argument("usage: skulk-gguf tokenize FILE TEXT [--parse-special] [--no-add-special]");
    auto f = GgufFile::open(pos[0]);
    auto v = Vocab::from_gguf(*f);
    std::cout << nlohmann::json(v->tokenize(pos[1], add_special, parse_special)).dump() << "\n";
    return 0;
}

} // namespace skulk::tools::gguf
