#include "api/model_routes.hpp"

#include "api/command_answer.hpp"

#include "cards/card_parser.hpp"
#include "worker/card_sync.hpp"
#include "cards/model_files.hpp"
#include "log/logging.hpp"

#include <toml.hpp>

#include <optional>

#include <sys/stat.h>

namespace skulk::api {
namespace {

using nlohmann::json;

// JSON -> TOML document, so a posted card meets exactly the checks a card
// file does (null means "not given").
toml::value to_toml(const json &j) {
    switch (j.type()) {
    case json::value_t::object: {
        toml::table t;
        for (const auto &[k, v] : j.items())
            if (!v.is_null()) t.emplace(k, to_toml(v));
        return toml::value(std::move(t));
    }
    case json::value_t::array: {
        toml::array a;
        for (const auto &v : j) a.push_back(to_toml(v));
        return toml::value(std::move(a));
    }
    case json::value_t::string: return toml::value(j.get<std::string>());
    case json::value_t::boolean: return toml::value(j.get<bool>());
    case json::value_t::number_integer: return toml::value(j.get<int64_t>());
    case json::value_t::number_unsigned: {
        const auto u = j.get<uint64_t>();
        // Out-of-range values become a float so the validator rejects them by type.
        return u > uint64_t(INT64_MAX) ? toml::value(double(u)) : toml::value(int64_t(u));
    }
    case json::value_t::number_float: return toml::value(j.get<double>());
    default: return toml::value(std::string()); // null inside an array: rejected as an empty value later
    }
}

json strings(const std::vector<std::string> &v) { return json(v); }

int64_t created_of(const cards::ModelCard &card) {
    // The card file's mtime: stable across restarts, newer for a newer card.
    struct stat st {};
    return ::stat(card.file.c_str(), &st) == 0 ? int64_t(st.st_mtime) : 0;
}

void send_list(const cards::CardStore &store, HttpResponse &res) {
    json data = json::array();
    for (const auto &card : store.list()) data.push_back(model_json(card));
    res.send_json(200, json{{"object", "list"}, {"data", std::move(data)}}.dump());
}

using namespace std::chrono_literals;

void send_store_error(HttpResponse &res, const cards::CardStoreError &e) {
    using K = cards::CardStoreError::Kind;
    const int status = e.kind() == K::not_found ? 404 : e.kind() == K::conflict ? 409 : e.kind() == K::invalid ? 400 : 500;
    res.send_error(status, e.what(),
                   status == 404 ? "not_found_error" : status == 409 ? "conflict" : status == 400 ? "invalid_request_error" : "server_error",
                   status == 404 ? "model_not_found" : status == 409 ? "conflict" : status == 400 ? "invalid_model_card" : "internal_error",
                   // The store refuses one field only: an id it cannot keep.
                   e.kind() == K::invalid ? "model_id" : "");
}

// The master's refusal or silence (no master yet, timeout: 503, retryable).
void send_submit_failure(HttpResponse &res, const cluster::CommandReply &r) {
    send_command_failure(res, r, "the cluster did not accept the change: ");
}

void delete_card(cards::CardStore &store, cluster::Node *cluster, const std::string &id, HttpResponse &res) {
    try {
        if (!cluster) {
            store.delete_custom(id);
        } else {
            // The same 404/409 as the local store, before asking the master.
            auto card = store.find(id);
            if (!card) throw cards::CardStoreError(cards::CardStoreError::Kind::not_found, "no custom model card '" + id + "'");
            if (!card->is_custom)
                throw cards::CardStoreError(cards::CardStoreError::Kind::conflict,
                                            "model '" + id + "' is a built-in card and cannot be deleted");
            const auto r = cluster->submit(state::DeleteCustomModelCard{id}, 15s);
            if (!r.ok) return send_submit_failure(res, r);
            if (!worker::wait_for_card(store, id, nullptr, 10s))
                return res.send_error(500, "the cluster accepted the deletion of '" + id + "' but this node did not apply it in time",
                                      "server_error");
        }
        log::get("api")->info("custom model card '{}' deleted", id);
        res.send_json(200, json{{"message", "Deleted custom model card " + id}, {"model_id", id}}.dump());
    } catch (const cards::CardStoreError &e) {
        send_store_error(res, e);
    }
}

// A custom card's local model file: inside the model folders (checked
// before the file is opened: the path is the client's choice), and a GGUF.
// False once the refusal is sent.
bool model_file_acceptable(const cards::CardStore &store, const cards::ModelCard &card, HttpResponse &res) {
    if (!card.source.is_local()) return true; // a Hugging Face source: nothing local yet
    if (auto why = cards::check_model_location(card.source.path, store.model_dirs()); !why.empty()) {
        res.send_error(400, why, "invalid_request_error", "model_path_not_allowed", "source.path");
        return false;
    }
    if (auto why = cards::check_model_file(card.source.path); !why.empty()) {
        res.send_error(400, why, "invalid_request_error", "model_file_invalid", "source.path");
        return false;
    }
    return true;
}

} // namespace

json model_json(const cards::ModelCard &c) {
    json source = json::object();
    if (c.source.is_local()) source["path"] = c.source.path.string();
    else source = {{"hf_repo", c.source.hf_repo}, {"hf_file", c.source.hf_file}};
    json placement = {{"compatible_backends", strings(c.placement.compatible_backends)},
                      {"backend_preference", strings(c.placement.backend_preference)},
                      {"max_context_tokens", c.placement.max_context_tokens ? json(*c.placement.max_context_tokens)
                                                                            : json(nullptr)}};
    json j = {{"id", c.model_id},
              {"object", "model"},
              {"created", created_of(c)},
              {"owned_by", "skulk"},
              {"model_id", c.model_id},
              {"name", c.name},
              {"family", c.family},
              {"quantization", c.quantization},
              {"n_layers", c.n_layers},
              {"hidden_size", c.hidden_size},
              {"num_key_value_heads", c.num_key_value_heads},
              {"context_length", c.context_length},
              {"storage_size", c.storage_size},
              {"tasks", strings(c.tasks)},
              {"capabilities", strings(c.capabilities)},
              {"supports_tensor", c.supports_tensor},
              {"is_custom", c.is_custom},
              {"source", std::move(source)},
              {"placement", std::move(placement)}};
    if (!c.base_model.empty()) j["base_model"] = c.base_model;
    if (c.runtime.chat_template) j["runtime"] = {{"chat_template", *c.runtime.chat_template}};
    return j;
}

cards::ModelCard card_from_json(const json &body, const std::filesystem::path &base_dir) {
    if (body.contains("toml")) {
        const auto &t = body["toml"];
        if (!t.is_string()) throw cards::CardError("request body", 0, "toml", "expected a string of TOML");
        return cards::parse_card_text(t.get<std::string>(), "request body (toml)", base_dir).card;
    }
    json card = body;
    card.erase("is_custom"); // set by the store, not by the client
    return cards::parse_card_document(to_toml(card), "request body", base_dir).card;
}

void register_model_routes(HttpServer &server, cards::CardStore &store, cluster::Node *cluster) {
    auto list = [&store](const HttpRequest &, HttpResponse &res) { send_list(store, res); };
    server.route("GET", "/v1/models", list);
    server.route("GET", "/models", list);
    // OpenAI's "retrieve model" (client.models.retrieve(id)).
    auto retrieve = [&store](const std::string &id, HttpResponse &res) {
        if (auto card = store.find(id)) return res.send_json(200, model_json(*card).dump());
        res.send_error(404, "The model '" + id + "' does not exist", "invalid_request_error", "model_not_found");
    };
    server.route("GET", "/v1/models/{id}", [retrieve](const HttpRequest &req, HttpResponse &res) {
        retrieve(req.params.at(0), res);
    });
    server.route("GET", "/v1/models/{org}/{name}", [retrieve](const HttpRequest &req, HttpResponse &res) {
        retrieve(req.params.at(0) + "/" + req.params.at(1), res);
    });

    server.route("POST", "/models/add", [&store, cluster](const HttpRequest &req, HttpResponse &res) {
        json body;
        try {
            body = json::parse(req.body);
        } catch (const json::exception &e) { // parse_error, or out_of_range for 1e400
            return res.send_error(400, std::string("invalid JSON body: ") + e.what(), "invalid_request_error", "invalid_json");
        }
        if (!body.is_object())
            return res.send_error(400, "the body must be a JSON object: a model card, or {\"toml\": \"...\"}",
                                  "invalid_request_error");
        try {
            const auto card = card_from_json(body, store.custom_dir());
            if (!model_file_acceptable(store, card, res)) return;
            std::optional<cards::ModelCard> stored;
            if (!cluster) {
                stored = store.add_custom(card);
            } else {
                // Validated here (400/409 as for a local add), replicated by the master.
                const std::string text = store.prepare_custom(card);
                const auto r = cluster->submit(state::AddCustomModelCard{state::CustomCard{card.model_id, text}}, 15s);
                if (!r.ok) return send_submit_failure(res, r);
                if (!worker::wait_for_card(store, card.model_id, &text, 10s) || !(stored = store.find(card.model_id)))
                    return res.send_error(500, "the cluster accepted card '" + card.model_id +
                                                   "' but this node did not store it in time (see its log)", "server_error");
            }
            log::get("api")->info("custom model card '{}' added ({})", stored->model_id, stored->file.string());
            res.send_json(200, json{{"message", "Added custom model card " + stored->model_id},
                                    {"model_card", model_json(*stored)}}.dump());
        } catch (const cards::CardError &e) {
            res.send_error(400, std::string("invalid model card: ") + e.what(), "invalid_request_error", "invalid_model_card",
                           e.field());
        } catch (const cards::CardStoreError &e) {
            send_store_error(res, e);
        }
    });

    // Ids may hold one '/' ("org/model"); a client sends it encoded or not.
    server.route("DELETE", "/models/custom/{id}", [&store, cluster](const HttpRequest &req, HttpResponse &res) {
        delete_card(store, cluster, req.params.at(0), res);
    });
    server.route("DELETE", "/models/custom/{org}/{name}", [&store, cluster](const HttpRequest &req, HttpResponse &res) {
        delete_card(store, cluster, req.params.at(0) + "/" + req.params.at(1), res);
    });
}

} // namespace skulk::api
