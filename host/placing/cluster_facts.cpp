#include "placing/cluster_facts.hpp"

namespace skulk::placing {

using namespace placement;

std::vector<NodeFacts> node_facts(const cluster::View &v, const cards::CardStore &cards) {
    const auto reserved = reservations(v.state, [&](const std::string &model_id) -> std::optional<ModelFacts> {
        if (auto card = cards.find(model_id)) return model_facts(*card);
        return std::nullopt;
    });
    std::vector<NodeFacts> out;
    for (const auto &[id, _] : v.state.nodes) {
        NodeFacts n;
        n.node_id = id;
        if (auto it = v.telemetry.find(id); it != v.telemetry.end()) {
            n.has_telemetry = true;
            n.reading = it->second.reading;
        }
        if (auto it = reserved.find(id); it != reserved.end()) n.reserved_bytes = it->second;
        out.push_back(std::move(n));
    }
    return out;
}

} // namespace skulk::placing
