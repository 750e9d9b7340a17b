// Row-wise element operations of the transformer block: RMSNorm, SwiGLU,
// residual add. All take one row (one token); callers split rows over threads.
#pragma once

#include <cstdint>

namespace skulk::cpu {

// y = x / sqrt(mean(x^2) + eps) * w (w may be NULL: no weight). y may alias x.
void rms_norm(const float *x, const float *w, float *y, int64_t n, float eps);

// gate = silu(gate) * up, in place.
void swiglu(float *gate, const float *up, int64_t n);

// y += x
void add_inplace(float *y, const float *x, int64_t n);

} // namespace skulk::cpu
