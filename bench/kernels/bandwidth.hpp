// Memory-read bandwidth probe: the ceiling a decode mat-vec can reach.
#pragma once

#include <cstddef>

namespace skulk::bench {

// Best-of-reps GB/s (1e9 bytes/s) reading `bytes` of memory (far larger than
// the last-level cache) with `threads` threads, each reading its own part.
double read_bandwidth_gbs(size_t bytes, int threads, int reps);

} // namespace skulk::bench
