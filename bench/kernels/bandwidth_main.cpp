// bench_bandwidth [MiB]: memory-read GB/s with 1 and 2 threads.
#include "bandwidth.hpp"

#include <cstdio>
#include <cstdlib>
#include <thread>

int main(int argc, char **argv) {
    const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
    const unsigned hw = std::thread::hardware_concurrency();
    std::printf("memory read bandwidth, %zu MiB buffer, best of 5\n", mib);
    for (int t = 1; t <= static_cast<int>(hw < 2 ? 1 : 2); ++t)
        std::printf("  %d thread%s: %6.1f GB/s\n", t, t > 1 ? "s" : " ",
                    skulk::bench::read_bandwidth_gbs(mib << 20, t, 5));
    return 0;
}
