// Temporary: SIMD levels run the scalar kernels until they land.
#include "dispatch.hpp"
#include "pack.hpp"

namespace skulk::cpu::detail {
bool has_panel_layout(uint32_t) { return false; }
void pack_panels(PackedMatrix &, const void *) {}
void matmul_avx2(const PackedMatrix &w, const ActLayout &l, const void *qx, int n, float *y, int64_t ldy,
                 int64_t r0, int64_t r1) {
    matmul_scalar(w, l, qx, n, y, ldy, r0, r1);
}
void matmul_avx512(const PackedMatrix &w, const ActLayout &l, const void *qx, int n, float *y, int64_t ldy,
                   int64_t r0, int64_t r1) {
    matmul_scalar(w, l, qx, n, y, ldy, r0, r1);
}
} // namespace skulk::cpu::detail
