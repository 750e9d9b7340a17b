#include "worker/card_sync.hpp"

#include "cards/card_parser.hpp"
#include "log/logging.hpp"

#include <thread>
#include <type_traits>
#include <variant>

namespace skulk::worker {
namespace {

using cards::CardStore;
using cards::CardStoreError;

void add(CardStore &store, const state::CustomCard &c) {
    try {
        store.add_custom_toml(c.toml);
    } catch (const std::exception &e) { // e.g. a built-in card of the same id on this node
        log::get("cards")->warn("replicated custom card '{}' not stored here: {}", c.model_id, e.what());
    }
}

void remove(CardStore &store, const std::string &id) {
    try {
        store.delete_custom(id);
        log::get("cards")->info("custom model card '{}' deleted", id);
    } catch (const CardStoreError &e) {
        if (e.kind() != CardStoreError::Kind::not_found)
            log::get("cards")->warn("custom card '{}' not deleted here: {}", id, e.what());
    }
}

// Every card of the State, written where missing or different (idempotent).
void sync_all(CardStore &store, const state::State &s) {
    for (const auto &[id, c] : s.custom_cards) add(store, c);
}

} // namespace

void attach_card_sync(cluster::Node &node, cards::CardStore &store) {
    node.add_listener([&store](const state::State &s, const state::Event *ev) {
        if (!ev) return sync_all(store, s); // a snapshot was installed
        std::visit(
            [&](const auto &e) {
                using T = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<T, state::CustomModelCardAdded>) {
                    add(store, e.card);
                    log::get("cards")->info("custom model card '{}' stored", e.card.model_id);
                } else if constexpr (std::is_same_v<T, state::CustomModelCardDeleted>) {
                    remove(store, e.model_id);
                } else if constexpr (std::is_same_v<T, state::SessionStarted>) {
                    sync_all(store, s);
                }
            },
            ev->body);
    }, /*muteable=*/false);
}

bool wait_for_card(const cards::CardStore &store, const std::string &model_id, const std::string *toml,
                   std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        const auto card = store.find(model_id);
        if (toml ? (card && card->is_custom && card_to_toml(*card) == *toml) : !card) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

} // namespace skulk::worker
