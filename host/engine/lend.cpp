#include "engine/lend.hpp"

#include "quant/types.hpp"

#include <charconv>
#include <string>

namespace skulk::engine {

int32_t tensor_layer(std::string_view name) {
    if (!name.starts_with("blk.")) return -1;
    name.remove_prefix(4);
    int32_t n = -1;
    auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    if (ec != std::errc() || p == name.data() + name.size() || *p != '.') return -1;
    return n;
}

std::vector<skulk_tensor> lend_tensors(const model::GgufFile &file, uint32_t first, uint32_t last, uint32_t range_flags) {
    const bool embed = range_flags & SKULK_RANGE_EMBED, head = range_flags & SKULK_RANGE_HEAD;
    std::vector<skulk_tensor> out;
    for (const auto &info : file.tensors()) {
        const int32_t layer = tensor_layer(info.name);
        if (layer >= 0) {
            if (static_cast<uint32_t>(layer) < first || static_cast<uint32_t>(layer) > last) continue;
        } else if (info.name == "token_embd.weight") {
            if (!embed && !head) continue;
        } else if (info.name == "output_norm.weight" || info.name == "output.weight") {
            if (!head) continue;
        }
        const quant::type_traits *tt = quant::find_type(info.type);
        const auto row = quant::row_bytes(info.type, static_cast<uint64_t>(info.ne[0]));
        if (!tt || !row) file.fail("tensor " + info.name + ": type " + std::to_string(info.type) + " with a row of " +
                                   std::to_string(info.ne[0]) + " elements is not supported");
        skulk_tensor t{};
        t.size = sizeof(skulk_tensor);
        t.gguf_type = info.type;
        t.name = skulk_str{info.name.data(), info.name.size()};
        t.layer = layer;
        t.n_dims = info.n_dims;
        for (int i = 0; i < 4; ++i) t.ne[i] = info.ne[i];
        t.nb[0] = tt->block_bytes;
        t.nb[1] = *row;
        t.nb[2] = t.nb[1] * static_cast<uint64_t>(info.ne[1]);
        t.nb[3] = t.nb[2] * static_cast<uint64_t>(info.ne[2]);
        if (t.nb[3] * static_cast<uint64_t>(info.ne[3]) > info.nbytes)
            file.fail("tensor " + info.name + ": shape needs more bytes than the file holds for it");
        t.data = info.data;
        t.nbytes = info.nbytes;
        out.push_back(t);
    }
    return out;
}

} // namespace skulk::engine
