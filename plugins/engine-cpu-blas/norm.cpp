#include "norm.hpp"

#include "kernels/vec.hpp"

#include <cmath>

namespace skulk::cpu {

void rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    // The sum of squares in double, as the reference implementation does: the
    // hidden state of a deep model can hold values whose squares differ by many
    // orders of magnitude.
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
    }
}

void swiglu(float *gate, const float *up, int64_t n) { swiglu_f32(gate, up, n); }

void add_inplace(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

} // namespace skulk::cpu
