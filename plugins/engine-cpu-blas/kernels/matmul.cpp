// Public entry points: runtime ISA choice, packing, dispatch to the kernels.
#include "matmul.hpp"

#include "dispatch.hpp"
#include "pack.hpp"
#include "quant/reference.hpp"
#include "quant/blocks.hpp"
#include "quant/types.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace skulk::cpu {
using namespace detail;

namespace {

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the wide registers.
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        return Isa::avx512vnni;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return Isa::avx2;
#endif
    return Isa::scalar;
}

Isa choose() {
    Isa isa = detect();
    if (const char *env = std::getenv("SKULK_CPU_ISA")) {
        Isa want = isa;
        if (!std::strcmp(env, "scalar")) want = Isa::scalar;
        else if (!std::strcmp(env, "avx2")) want = Isa::avx2;
        else if (!std::strcmp(env, "avx512") || !std::strcmp(env, "avx512vnni")) want = Isa::avx512vnni;
        if (want < isa) isa = want; // never raise above what the CPU has
    }
    return isa;
}

MatmulFn kernel_for(Isa isa) {
    switch (isa) {
    case Isa::avx512vnni: return matmul_avx512;
    case Isa::avx2: return matmul_avx2;
    case Isa::scalar: break;
    }
    return matmul_scalar;
}

std::string type_label(uint32_t type) {
    const quant::type_traits *t = quant::find_type(type);
    return t ? std::string(t->name) : "type id " + std::to_string(type);
}

} // namespace

namespace detail {

Isa detected_isa() {
    static const Isa isa = detect();
    return isa;
}
Isa active_isa() {
    static const Isa isa = choose();
    return isa;
}
bool isa_available(Isa isa) { return isa <= detected_isa(); }
const char *isa_label(Isa isa) {
    switch (isa) {
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::avx2: return "avx2";
    case Isa::scalar: break;
    }
    return "scalar";
}

std::unique_ptr<PackedMatrix> pack_matrix_for(Isa isa, uint32_t gguf_type, const void *data, int64_t rows,
                                              int64_t cols) {
    if (!isa_available(isa)) throw std::invalid_argument(std::string("cpu kernels: this CPU lacks ") + isa_label(isa));
    if (!supports_type(gguf_type))
        throw std::invalid_argument("cpu kernels: no matmul kernel for " + type_label(gguf_type));
    if (rows <= 0) throw std::invalid_argument("cpu kernels: matrix needs rows > 0, got " + std::to_string(rows));
    (void)act_layout(gguf_type, cols); // validates cols
    auto w = std::make_unique<PackedMatrix>();
    w->type = gguf_type;
    w->isa = isa;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = *quant::row_bytes(gguf_type, static_cast<uint64_t>(cols));
    w->data = static_cast<const uint8_t *>(data);
    if (isa != Isa::scalar && has_panel_layout(gguf_type)) pack_panels(*w, data);
    return w;
}

} // namespace detail

PackedMatrix::~PackedMatrix() {
    if (slab) release_panels(slab);
    else std::free(owned);
}

bool supports_type(uint32_t t) {
    switch (t) {
    case quant::kF32: case quant::kF16: case quant::kBF16: case quant::kQ4_0: case quant::kQ4_1:
    case quant::kQ5_0: case quant::kQ5_1: case quant::kQ8_0: case quant::kQ4_K: case quant::kQ5_K:
    case quant::kQ6_K:
        return true;
    default:
        return false;
    }
}

std::unique_ptr<PackedMatrix> pack_matrix(uint32_t gguf_type, const void *data, int64_t rows, int64_t cols) {
    return pack_matrix_for(active_isa(), gguf_type, data, rows, cols);
}

int64_t rows(const PackedMatrix &w) { return w.rows; }
int64_t cols(const PackedMatrix &w) { return w.cols; }
uint32_t type(const PackedMatrix &w) { return w.type; }
size_t row_align(const PackedMatrix &w) { return w.panel_bytes ? kPanelRows : 1; }
size_t owned_bytes(const PackedMatrix &w) { return w.owned_size; }

void matmul(const PackedMatrix &w, const void *qx, int n_tokens, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    if (r0 < 0 || r1 > w.rows || r0 > r1)
        throw std::invalid_argument("cpu kernels: matmul row range [" + std::to_string(r0) + ", " + std::to_string(r1) +
                                    ") outside [0, " + std::to_string(w.rows) + ")");
    if (r0 == r1 || n_tokens <= 0) return;
    const ActLayout l = act_layout(w.type, w.cols);
    kernel_for(w.isa)(w, l, qx, n_tokens, y, ldy, r0, r1);
}

void dequantize_row(uint32_t gguf_type, const void *row, float *out, int64_t cols) {
    quant::dequantize_row(gguf_type, row, out, cols);
}

const char *isa_name() { return isa_label(active_isa()); }

} // namespace skulk::cpu
