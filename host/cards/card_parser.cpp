#include "cards/card_parser.hpp"

#include "skulk/utf8.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace skulk::cards {
namespace {

namespace fs = std::filesystem;

// The earlier product's ModelTask and capability vocabularies (image tasks
// are accepted so a card stays portable, though no engine serves them yet).
const std::set<std::string, std::less<>> kTasks = {"TextGeneration", "TextEmbedding", "ImageGeneration",
                                                   "ImageEdits"};
const std::set<std::string, std::less<>> kCapabilities = {"text", "vision", "thinking", "thinking_toggle",
                                                          "embedding", "tools"};

const std::set<std::string, std::less<>> kTopKeys = {
    "model_id", "name", "family", "quantization", "base_model", "n_layers", "hidden_size",
    "num_key_value_heads", "context_length", "storage_size", "tasks", "capabilities", "supports_tensor",
    "source", "placement", "runtime", "is_custom"};
const std::set<std::string, std::less<>> kSourceKeys = {"path", "hf_repo", "hf_file"};
const std::set<std::string, std::less<>> kPlacementKeys = {"compatible_backends", "backend_preference",
                                                           "max_context_tokens"};
const std::set<std::string, std::less<>> kRuntimeKeys = {"chat_template"};

const char *type_name(const toml::value &v) {
    switch (v.type()) {
    case toml::value_t::boolean: return "a boolean";
    case toml::value_t::integer: return "an integer";
    case toml::value_t::floating: return "a float";
    case toml::value_t::string: return "a string";
    case toml::value_t::array: return "an array";
    case toml::value_t::table: return "a table";
    case toml::value_t::empty: return "nothing";
    default: return "a date/time";
    }
}

uint32_t line_of(const toml::value &v) {
    // Values built in memory (a card posted as JSON) have no region; toml11
    // then reports line 1 of "unknown file", which would be a lie.
    const auto loc = v.location();
    return loc.file_name() == "unknown file" ? 0 : loc.line();
}

// Reads one table's fields, failing with the dotted field name and line.
class Reader {
public:
    Reader(const std::string &origin, std::vector<std::string> &warnings) : origin_(origin), warnings_(warnings) {}

    [[noreturn]] void fail(uint32_t line, const std::string &field, const std::string &reason) const {
        throw CardError(origin_, line, field, reason);
    }

    const toml::value *get(const toml::value &table, const std::string &key) const {
        const auto &t = table.as_table();
        auto it = t.find(key);
        return it == t.end() ? nullptr : &it->second;
    }

    std::optional<std::string> str(const toml::value &table, const std::string &key, const std::string &field) const {
        const auto *v = get(table, key);
        if (!v) return std::nullopt;
        if (!v->is_string()) fail(line_of(*v), field, std::string("expected a string, got ") + type_name(*v));
        return v->as_string().str;
    }

    std::optional<uint64_t> uint(const toml::value &table, const std::string &key, const std::string &field,
                                 uint64_t max) const {
        const auto *v = get(table, key);
        if (!v) return std::nullopt;
        if (!v->is_integer()) fail(line_of(*v), field, std::string("expected an integer, got ") + type_name(*v));
        const auto n = v->as_integer();
        if (n < 0) fail(line_of(*v), field, "must not be negative, got " + std::to_string(n));
        if (uint64_t(n) > max) fail(line_of(*v), field, "too large: " + std::to_string(n));
        return uint64_t(n);
    }

    std::optional<bool> boolean(const toml::value &table, const std::string &key, const std::string &field) const {
        const auto *v = get(table, key);
        if (!v) return std::nullopt;
        if (!v->is_boolean()) fail(line_of(*v), field, std::string("expected a boolean, got ") + type_name(*v));
        return v->as_boolean();
    }

    // An array of strings; `check` validates each item (returns a reason or "").
    template <class Check>
    std::vector<std::string> strings(const toml::value &table, const std::string &key, const std::string &field,
                                     Check check) const {
        std::vector<std::string> out;
        const auto *v = get(table, key);
        if (!v) return out;
        if (!v->is_array())
            fail(line_of(*v), field, std::string("expected an array of strings, got ") + type_name(*v));
        const auto &arr = v->as_array();
        for (size_t i = 0; i < arr.size(); ++i) {
            const auto &item = arr[i];
            const std::string item_field = field + "[" + std::to_string(i) + "]";
            if (!item.is_string())
                fail(line_of(item), item_field, std::string("expected a string, got ") + type_name(item));
            std::string s = item.as_string().str;
            if (std::string reason = check(s); !reason.empty()) fail(line_of(item), item_field, reason);
            out.push_back(std::move(s));
        }
        return out;
    }

    const toml::value *table(const toml::value &root, const std::string &key) const {
        const auto *v = get(root, key);
        if (v && !v->is_table()) fail(line_of(*v), key, std::string("expected a table, got ") + type_name(*v));
        return v;
    }

    void warn_unknown(const toml::value &table, const std::set<std::string, std::less<>> &known,
                      const std::string &prefix) const {
        for (const auto &[k, v] : table.as_table())
            if (!known.count(k)) {
                std::ostringstream ss;
                ss << origin_;
                if (uint32_t l = line_of(v)) ss << ":" << l;
                ss << ": unknown field '" << prefix << k << "' ignored";
                warnings_.push_back(ss.str());
            }
    }

private:
    const std::string &origin_;
    std::vector<std::string> &warnings_;
};

std::string check_tag(const std::string &s) {
    return is_valid_backend_tag(s) ? std::string()
                                   : "backend tag '" + s +
                                         "' is not of the form <engine>-<compute> (lower-case letters, digits, '_'), "
                                         "e.g. cpu_blas-cpu";
}

} // namespace

CardError::CardError(std::string origin, uint32_t line, std::string field, std::string reason)
    : std::runtime_error([&] {
          std::ostringstream ss;
          ss << origin;
          if (line) ss << ":" << line;
          ss << ": ";
          if (!field.empty()) ss << "field '" << field << "': ";
          ss << reason;
          return ss.str();
      }()),
      origin_(std::move(origin)), line_(line), field_(std::move(field)), reason_(std::move(reason)) {}

bool is_valid_backend_tag(std::string_view tag) {
    const auto dash = tag.find('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == tag.size()) return false;
    for (size_t i = 0; i < tag.size(); ++i) {
        const char c = tag[i];
        if (i == dash) continue;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

bool is_valid_model_id(std::string_view id) {
    if (id.empty() || id.size() > 256) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '/' || c == '-'))
            return false;
    // Ids name files and URL paths: one "org/name" slash at most, with a
    // non-empty part on each side, and never "..".
    const size_t slash = id.find('/');
    if (slash != std::string_view::npos && (slash == 0 || slash + 1 == id.size() || id.find('/', slash + 1) != std::string_view::npos))
        return false;
    return id.find("..") == std::string_view::npos;
}

ParsedCard parse_card_document(const toml::value &root, const std::string &origin, const fs::path &base_dir) {
    ParsedCard out;
    Reader r(origin, out.warnings);
    if (!root.is_table()) r.fail(0, "", "a card must be a TOML table");
    ModelCard &c = out.card;
    r.warn_unknown(root, kTopKeys, "");

    auto id = r.str(root, "model_id", "model_id");
    if (!id) r.fail(0, "model_id", "required field is missing");
    if (!is_valid_model_id(*id))
        r.fail(line_of(*r.get(root, "model_id")), "model_id",
               "'" + *id + "' is not a valid id (" + std::string(kModelIdRule) + ")");
    c.model_id = *id;
    c.name = r.str(root, "name", "name").value_or(c.model_id);
    c.family = r.str(root, "family", "family").value_or("");
    c.quantization = r.str(root, "quantization", "quantization").value_or("");
    c.base_model = r.str(root, "base_model", "base_model").value_or("");
    constexpr uint64_t u32 = std::numeric_limits<uint32_t>::max();
    c.n_layers = uint32_t(r.uint(root, "n_layers", "n_layers", u32).value_or(0));
    c.hidden_size = uint32_t(r.uint(root, "hidden_size", "hidden_size", u32).value_or(0));
    c.num_key_value_heads = uint32_t(r.uint(root, "num_key_value_heads", "num_key_value_heads", u32).value_or(0));
    c.context_length = uint32_t(r.uint(root, "context_length", "context_length", u32).value_or(0));
    c.storage_size = r.uint(root, "storage_size", "storage_size", std::numeric_limits<int64_t>::max()).value_or(0);
    c.tasks = r.strings(root, "tasks", "tasks", [](const std::string &s) {
        return kTasks.count(s) ? std::string()
                               : "unknown task '" + s + "' (known: TextGeneration, TextEmbedding, ImageGeneration, ImageEdits)";
    });
    if (c.tasks.empty()) c.tasks.push_back("TextGeneration");
    c.capabilities = r.strings(root, "capabilities", "capabilities", [](const std::string &s) {
        return kCapabilities.count(s)
                   ? std::string()
                   : "unknown capability '" + s + "' (known: text, vision, thinking, thinking_toggle, embedding, tools)";
    });
    c.supports_tensor = r.boolean(root, "supports_tensor", "supports_tensor").value_or(false);

    // [source]: exactly one of a local path or a Hugging Face repo + file.
    const auto *src = r.table(root, "source");
    if (!src) r.fail(0, "source", "required table is missing (give source.path or source.hf_repo + source.hf_file)");
    r.warn_unknown(*src, kSourceKeys, "source.");
    c.source.path_as_written = r.str(*src, "path", "source.path").value_or("");
    c.source.hf_repo = r.str(*src, "hf_repo", "source.hf_repo").value_or("");
    c.source.hf_file = r.str(*src, "hf_file", "source.hf_file").value_or("");
    const bool has_path = !c.source.path_as_written.empty();
    const bool has_hf = !c.source.hf_repo.empty() || !c.source.hf_file.empty();
    if (has_path == has_hf)
        r.fail(line_of(*src), "source",
               has_path ? "give either path or hf_repo + hf_file, not both" : "give path or hf_repo + hf_file");
    if (has_hf && (c.source.hf_repo.empty() || c.source.hf_file.empty()))
        r.fail(line_of(*src), c.source.hf_repo.empty() ? "source.hf_repo" : "source.hf_file",
               "hf_repo and hf_file go together");
    // A repo's file becomes a path under the download folder: it must stay there.
    if (has_hf) {
        const fs::path f(c.source.hf_file);
        bool escapes = f.is_absolute();
        for (const auto &part : f) escapes |= part == "..";
        if (escapes)
            r.fail(line_of(*src), "source.hf_file", "'" + c.source.hf_file + "' must be a path inside the repo (relative, no \"..\")");
    }
    if (has_path) {
        fs::path p(c.source.path_as_written);
        c.source.path = (p.is_absolute() ? p : base_dir / p).lexically_normal();
    }

    // [placement]
    if (const auto *pl = r.table(root, "placement")) {
        r.warn_unknown(*pl, kPlacementKeys, "placement.");
        c.placement.compatible_backends =
            r.strings(*pl, "compatible_backends", "placement.compatible_backends", check_tag);
        c.placement.backend_preference =
            r.strings(*pl, "backend_preference", "placement.backend_preference", check_tag);
        for (size_t i = 0; i < c.placement.backend_preference.size(); ++i) {
            const auto &tag = c.placement.backend_preference[i];
            bool listed = false;
            for (const auto &t : c.placement.compatible_backends) listed |= t == tag;
            if (!listed)
                r.fail(line_of(r.get(*pl, "backend_preference")->as_array()[i]),
                       "placement.backend_preference[" + std::to_string(i) + "]",
                       "'" + tag + "' is not in placement.compatible_backends");
        }
        if (auto m = r.uint(*pl, "max_context_tokens", "placement.max_context_tokens", u32)) {
            if (*m == 0) r.fail(line_of(*r.get(*pl, "max_context_tokens")), "placement.max_context_tokens", "must be > 0");
            c.placement.max_context_tokens = uint32_t(*m);
        }
    }
    if (c.placement.compatible_backends.empty())
        r.fail(0, "placement.compatible_backends", "required: at least one backend tag, e.g. [\"cpu_blas-cpu\"]");

    // [runtime]
    if (const auto *rt = r.table(root, "runtime")) {
        r.warn_unknown(*rt, kRuntimeKeys, "runtime.");
        c.runtime.chat_template = r.str(*rt, "chat_template", "runtime.chat_template");
    }
    return out;
}

ParsedCard parse_card_text(std::string_view toml_text, const std::string &origin, const fs::path &base_dir) {
    // TOML is UTF-8. Checked here because toml11 3.7's own check of a string
    // reads past its buffer (found by fuzz_card_input: heap-buffer-overflow
    // in parse_literal_string's error path).
    if (const size_t bad = utf8::first_invalid(toml_text); bad != std::string_view::npos)
        throw CardError(origin, uint32_t(1 + std::count(toml_text.begin(), toml_text.begin() + long(bad), '\n')), "",
                        "not valid UTF-8 (byte " + std::to_string(bad) + "); a card is UTF-8 text");
    std::istringstream in{std::string(toml_text)};
    toml::value root;
    try {
        root = toml::parse(in, origin);
    } catch (const toml::syntax_error &e) {
        throw CardError(origin, e.location().line(), "", std::string("TOML syntax error: ") + e.what());
    } catch (const toml::exception &e) {
        throw CardError(origin, e.location().line(), "", std::string("TOML error: ") + e.what());
    } catch (const std::exception &e) { // a toml11 corner that throws something else: still a bad card
        throw CardError(origin, 0, "", std::string("TOML error: ") + e.what());
    }
    return parse_card_document(root, origin, base_dir);
}

ParsedCard load_card_file(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw CardError(file.string(), 0, "", "cannot open the file");
    std::ostringstream ss;
    ss << in.rdbuf();
    auto parsed = parse_card_text(ss.str(), file.string(), file.parent_path());
    parsed.card.file = file;
    return parsed;
}

std::string card_to_toml(const ModelCard &c) {
    // std::map tables: a stable (sorted) key order in the written file.
    using value = toml::basic_value<toml::discard_comments, std::map, std::vector>;
    using table = value::table_type;
    using array = value::array_type;
    auto strings = [](const std::vector<std::string> &v) {
        array a;
        for (const auto &s : v) a.emplace_back(s);
        return value(a);
    };
    table t;
    t["model_id"] = c.model_id;
    t["name"] = c.name;
    if (!c.family.empty()) t["family"] = c.family;
    if (!c.quantization.empty()) t["quantization"] = c.quantization;
    if (!c.base_model.empty()) t["base_model"] = c.base_model;
    t["n_layers"] = toml::integer(c.n_layers);
    t["hidden_size"] = toml::integer(c.hidden_size);
    t["num_key_value_heads"] = toml::integer(c.num_key_value_heads);
    t["context_length"] = toml::integer(c.context_length);
    t["storage_size"] = toml::integer(c.storage_size);
    t["tasks"] = strings(c.tasks);
    t["capabilities"] = strings(c.capabilities);
    t["supports_tensor"] = c.supports_tensor;
    table src;
    if (c.source.is_local()) src["path"] = c.source.path_as_written;
    else {
        src["hf_repo"] = c.source.hf_repo;
        src["hf_file"] = c.source.hf_file;
    }
    t["source"] = src;
    table pl;
    pl["compatible_backends"] = strings(c.placement.compatible_backends);
    pl["backend_preference"] = strings(c.placement.backend_preference);
    if (c.placement.max_context_tokens) pl["max_context_tokens"] = toml::integer(*c.placement.max_context_tokens);
    t["placement"] = pl;
    if (c.runtime.chat_template) {
        table rt;
        rt["chat_template"] = *c.runtime.chat_template;
        t["runtime"] = rt;
    }
    return toml::format(value(t));
}

} // namespace skulk::cards
