#include "unit/engine/engine_fixture.hpp"

#include "unit/engine/reference.hpp"
#include "gguf/gguf.hpp"
#include "plugin/registry.hpp"

#include <mutex>
#include <stdexcept>

namespace skulk::test {

ComputePlugin cpu_blas_plugin() {
    static std::mutex mu;
    static ComputePlugin cached;
    std::lock_guard lock(mu);
    if (cached.vtable) return cached;
    plugin::Registry reg({build_dir() / "bin" / "plugins"});
    reg.scan();
    auto p = reg.best(SKULK_KIND_COMPUTE, {"cpu_blas-cpu"});
    if (!p || !p->compute()) throw std::runtime_error("no usable cpu_blas compute plugin in " + (build_dir() / "bin" / "plugins").string());
    cached.vtable = p->compute();
    cached.owner = p;
    return cached;
}

std::unique_ptr<engine::ComputeSession> open_session(const std::filesystem::path &model, engine::SessionOptions opts,
                                                     uint32_t first, int32_t last, uint32_t flags) {
    const ComputePlugin p = cpu_blas_plugin();
    return std::make_unique<engine::ComputeSession>(p.owner, p.vtable, model::GgufFile::open(model), first, last, flags, opts);
}

std::vector<float> forward_all(engine::ComputeSession &s, std::span<const int32_t> tokens, int32_t start, uint32_t seq) {
    const size_t n = tokens.size();
    std::vector<int32_t> pos(n);
    std::vector<uint32_t> seqs(n, seq);
    for (size_t i = 0; i < n; ++i) pos[i] = start + static_cast<int32_t>(i);
    std::vector<float> out(n * s.n_vocab());
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = static_cast<uint32_t>(n);
    b.token = tokens.data();
    b.pos = pos.data();
    b.seq_id = seqs.data();
    s.forward(b, out.data(), out.size());
    return out;
}

} // namespace skulk::test
