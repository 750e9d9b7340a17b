// bench_matmul: the kernels at the real matrix shapes of the target models.
//
//   bench_matmul [--model smollm2|qwen|tinyllama|all] [--types Q8_0,Q5_0,...]
//                [--threads N] [--prefill TOKENS] [--no-prefill] [--blas]
//
// Decode (1 token): GB/s of weight bytes streamed (ggml block sizes), as a
// ratio of the measured read bandwidth for the same thread count. Each rep
// reads a different copy of the matrix (copies total >= 384 MB) so the
// weights come from DRAM, not from the 32 MB L3, as they do in a real model;
// the figure is the best of several such sweeps (the machine is shared).
// Prefill: G-MAC/s (rows*cols*tokens / s), weights reused from cache.
// --blas adds OpenBLAS sgemm on the dequantized f32 matrix for comparison.
// --decode-1t times decode with one thread only (a multi-thread decode pays
// one team sync per matrix, which an oversubscribed machine makes meaningless).
// --hot reuses one copy for decode (cache-resident: the kernel's compute
// speed rather than the memory's).
// SKULK_CPU_ISA=scalar|avx2|avx512 selects a lower kernel level.
#include "bandwidth.hpp"
#include "thread_team.hpp"

#include "matmul.hpp"
#include "quant/reference.hpp"
#include "quant/types.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {
namespace q = skulk::quant;
namespace cpu = skulk::cpu;
using skulk::bench::ThreadTeam;
using Clock = std::chrono::steady_clock;

struct Shape {
    const char *name;
    int64_t rows, cols;
};
struct Model {
    const char *key, *name;
    std::vector<Shape> shapes;
};

// q/k/v/o, gate/up, down and lm_head of each model (ne[1] x ne[0]).
const std::vector<Model> kModels = {
    {"smollm2", "SmolLM2-135M", {{"attn_q", 576, 576}, {"attn_kv", 192, 576}, {"ffn_up", 1536, 576},
                                 {"ffn_down", 576, 1536}, {"lm_head", 49152, 576}}},
    {"qwen", "Qwen2.5-0.5B", {{"attn_q", 896, 896}, {"attn_kv", 128, 896}, {"ffn_up", 4864, 896},
                              {"ffn_down", 896, 4864}, {"lm_head", 151936, 896}}},
    {"tinyllama", "TinyLlama-1.1B", {{"attn_q", 2048, 2048}, {"attn_kv", 256, 2048}, {"ffn_up", 5632, 2048},
                                     {"ffn_down", 2048, 5632}, {"lm_head", 32000, 2048}}},
};

struct Aligned {
    explicit Aligned(size_t n) : size(n), p(static_cast<uint8_t *>(std::aligned_alloc(64, (n + 63) / 64 * 64))) {}
    ~Aligned() { std::free(p); }
    size_t size;
    uint8_t *p;
};

// A ggml matrix of rows x cols: 64 distinct random rows repeated (speed does
// not depend on the values, and quantizing 150k K-quant rows would be slow).
std::vector<uint8_t> make_weights(uint32_t type, int64_t rows, int64_t cols) {
    const size_t rb = *q::row_bytes(type, static_cast<uint64_t>(cols));
    std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> x(static_cast<size_t>(cols));
    const int64_t distinct = std::min<int64_t>(rows, 64);
    for (int64_t r = 0; r < distinct; ++r) {
        for (auto &v : x) v = nd(rng);
        q::quantize_row(type, x.data(), w.data() + rb * static_cast<size_t>(r), cols);
    }
    for (int64_t r = distinct; r < rows; ++r)
        std::memcpy(w.data() + rb * static_cast<size_t>(r), w.data() + rb * static_cast<size_t>(r % distinct), rb);
    return w;
}

// Rows [r0, r1) of thread i of n, split at multiples of align.
std::pair<int64_t, int64_t> split(int64_t rows, size_t align, int i, int n) {
    const int64_t a = static_cast<int64_t>(align);
    const int64_t per = ((rows + n - 1) / n + a - 1) / a * a;
    return {std::min(rows, per * i), std::min(rows, per * (i + 1))};
}

// Seconds per call of fn: the fastest single call among those that fit in
// min_seconds. This machine is shared: a call that lost its core to another
// process is slower, never faster, so the minimum is the undisturbed speed.
template <class Fn>
double time_per_call(Fn &&fn, double min_seconds) {
    fn(0); // warm up
    int calls = 0;
    double best = 1e30;
    const auto start = Clock::now();
    do {
        const auto t0 = Clock::now();
        fn(++calls);
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    } while (std::chrono::duration<double>(Clock::now() - start).count() < min_seconds || calls < 5);
    return best;
}

struct Options {
    std::string model = "all";
    std::vector<std::string> types = {"Q8_0", "Q5_0", "Q4_K", "Q6_K", "Q4_0", "Q5_1", "Q4_1", "Q5_K", "F16", "BF16", "F32"};
    int threads = 2;
    int prefill = 512;
    bool blas = false;
    bool hot = false;
    bool decode_n = true; // also time decode with `threads` threads
};

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) { std::fprintf(stderr, "bench_matmul: %s needs a value\n", a.c_str()); std::exit(2); }
            return argv[++i];
        };
        if (a == "--model") o.model = next();
        else if (a == "--threads") o.threads = std::max(1, std::atoi(next().c_str()));
        else if (a == "--prefill") o.prefill = std::max(2, std::atoi(next().c_str()));
        else if (a == "--no-prefill") o.prefill = 0;
        else if (a == "--blas") o.blas = true;
        else if (a == "--hot") o.hot = true;
        else if (a == "--decode-1t") o.decode_n = false;
        else if (a == "--types") {
            o.types.clear();
            std::string s = next();
            for (size_t p = 0; p <= s.size();) {
                size_t c = s.find(',', p);
                if (c == std::string::npos) c = s.size();
                if (c > p) o.types.push_back(s.substr(p, c - p));
                p = c + 1;
            }
        } else {
            std::fprintf(stderr, "usage: bench_matmul [--model smollm2|qwen|tinyllama|all] [--types Q8_0,...] "
                                 "[--threads N] [--prefill TOKENS] [--no-prefill] [--blas] [--hot] [--decode-1t]\n");
            std::exit(2);
        }
    }
    return o;
}

} // namespace

int main(int argc, char **argv) {
    const Options opt = parse(argc, argv);
    std::printf("kernels: %s\n", cpu::isa_name());
    const double bw1 = skulk::bench::read_bandwidth_gbs(size_t(512) << 20, 1, 5);
    const double bw2 = opt.threads > 1 ? skulk::bench::read_bandwidth_gbs(size_t(512) << 20, opt.threads, 5) : bw1;
    std::printf("read bandwidth: 1 thread %.1f GB/s, %d threads %.1f GB/s\n\n", bw1, opt.threads, bw2);
    std::printf("| model | matrix | rows x cols | type | decode 1T GB/s | of bw | decode %dT GB/s | of bw | prefill %d "
                "G-MAC/s (%dT)%s |\n",
                opt.threads > 1 && opt.decode_n ? opt.threads : 2, opt.prefill, opt.threads,
                opt.blas ? " | sgemm G-MAC/s" : "");
    std::printf("|---|---|---|---|---|---|---|---|---|%s\n", opt.blas ? "---|" : "");
    for (const Model &m : kModels) {
        if (opt.model != "all" && opt.model != m.key) continue;
        for (const Shape &s : m.shapes) {
            for (const std::string &tname : opt.types) {
                const q::type_traits *tt = q::find_type(tname);
                if (!tt || !cpu::supports_type(tt->id)) {
                    std::fprintf(stderr, "bench_matmul: no kernel for type %s\n", tname.c_str());
                    return 2;
                }
                if (s.cols % tt->block_elems != 0) continue; // llama.cpp would pick a fallback type here
                const auto bytes = make_weights(tt->id, s.rows, s.cols);
                // Enough copies that a decode sweep cannot be served from L3.
                const size_t ncopies = opt.hot ? 1 : std::max<size_t>(1, (size_t(384) << 20) / bytes.size() + 1);
                std::vector<std::unique_ptr<cpu::PackedMatrix>> copies;
                std::vector<std::vector<uint8_t>> raw(ncopies);
                for (size_t c = 0; c < ncopies; ++c) {
                    raw[c] = bytes; // each copy its own memory (packing may borrow it)
                    copies.push_back(cpu::pack_matrix(tt->id, raw[c].data(), s.rows, s.cols));
                }
                const size_t align = cpu::row_align(*copies[0]);
                const int maxtok = std::max(1, opt.prefill);
                std::vector<float> x(static_cast<size_t>(maxtok * s.cols));
                std::mt19937 rng(7);
                std::normal_distribution<float> nd(0.0f, 1.0f);
                for (auto &v : x) v = nd(rng);
                Aligned qx(cpu::quantized_activation_bytes(tt->id, s.cols, maxtok));
                cpu::quantize_activations(tt->id, x.data(), s.cols, maxtok, qx.p);
                std::vector<float> y(static_cast<size_t>(maxtok * s.rows));

                // One timed call sweeps every copy once (>= 384 MB, like the
                // bandwidth probe's sweep), so both ceilings use one statistic.
                auto decode = [&](ThreadTeam &team) {
                    const double sec = time_per_call(
                        [&](int) {
                            for (const auto &w : copies)
                                team.run([&](int i) {
                                    auto [r0, r1] = split(s.rows, align, i, team.size());
                                    if (r0 < r1) cpu::matmul(*w, qx.p, 1, y.data(), s.rows, r0, r1);
                                });
                        },
                        0.4);
                    return static_cast<double>(bytes.size()) * static_cast<double>(ncopies) / sec / 1e9;
                };
                // Teams exist only while measured: idle spinning workers would
                // steal a core from the other measurements.
                const double d1 = [&] { ThreadTeam t(1); return decode(t); }();
                const double dn = opt.threads > 1 && opt.decode_n ? [&] { ThreadTeam t(opt.threads); return decode(t); }() : d1;
                double gmac = 0, blas = 0;
                const double macs = static_cast<double>(s.rows) * static_cast<double>(s.cols) * opt.prefill;
                if (opt.prefill > 0) {
                    ThreadTeam teamN(opt.threads);
                    const double sec = time_per_call(
                        [&](int) {
                            teamN.run([&](int i) {
                                auto [r0, r1] = split(s.rows, align, i, teamN.size());
                                if (r0 < r1) cpu::matmul(*copies[0], qx.p, opt.prefill, y.data(), s.rows, r0, r1);
                            });
                        },
                        0.5);
                    gmac = macs / sec / 1e9;
                }
                if (opt.blas && opt.prefill > 0) {
                    std::vector<float> wf(static_cast<size_t>(s.rows * s.cols));
                    const size_t rb = *q::row_bytes(tt->id, static_cast<uint64_t>(s.cols));
                    for (int64_t r = 0; r < s.rows; ++r)
                        q::dequantize_row(tt->id, bytes.data() + rb * static_cast<size_t>(r), wf.data() + r * s.cols,
                                          s.cols);
                    openblas_set_num_threads(opt.threads);
                    const double sec = time_per_call(
                        [&](int) {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, opt.prefill, static_cast<int>(s.rows),
                                        static_cast<int>(s.cols), 1.0f, x.data(), static_cast<int>(s.cols), wf.data(),
                                        static_cast<int>(s.cols), 0.0f, y.data(), static_cast<int>(s.rows));
                        },
                        0.5);
                    blas = macs / sec / 1e9;
                }
                std::printf("| %s | %s | %lld x %lld | %s | %.1f | %.0f%% | ", m.name, s.name,
                            static_cast<long long>(s.rows), static_cast<long long>(s.cols), tname.c_str(), d1,
                            100 * d1 / bw1);
                if (opt.threads > 1 && opt.decode_n) std::printf("%.1f | %.0f%% | ", dn, 100 * dn / bw2);
                else std::printf("- | - | ");
                if (opt.prefill > 0) std::printf("%.0f |", gmac); else std::printf("- |");
                if (opt.blas) std::printf(" %.0f |", blas);
                std::printf("\n");
                std::fflush(stdout);
            }
        }
    }
    return 0;
}
