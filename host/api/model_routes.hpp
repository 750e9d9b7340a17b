// The model-card HTTP routes (the contract: docs/operations.md, docs/model-cards.md):
//   GET /v1/models, GET /models      the OpenAI model list, card fields added
//   GET /v1/models/{id}              one model (404 model_not_found)
//   POST /models/add                 a custom card as JSON (card field names) or {"toml": "..."}
//   DELETE /models/custom/{id}       remove a custom card (ids with one '/' too)
// The JSON view of a ModelCard lives here; host/cards speaks C++ only.
//
// With a cluster node, add/delete are validated here and then go through the
// master (AddCustomModelCard / DeleteCustomModelCard); every node's listener
// (worker/card_sync.hpp) writes or removes the file, and the route answers
// once this node has applied it. Without one (tests), they act locally.
#pragma once

#include "api/http_server.hpp"
#include "cards/card_store.hpp"
#include "cluster/node.hpp"

#include <nlohmann/json.hpp>

namespace skulk::api {

void register_model_routes(HttpServer &server, cards::CardStore &store, cluster::Node *cluster = nullptr);

// One entry of GET /v1/models.
nlohmann::json model_json(const cards::ModelCard &card);

// A card posted as JSON -> ModelCard, through the same validator as TOML
// files. Throws cards::CardError naming the field.
cards::ModelCard card_from_json(const nlohmann::json &body, const std::filesystem::path &base_dir);

} // namespace skulk::api
