// One skulk-host process: owns the subsystems, wires them together, runs
// until SIGINT/SIGTERM and then shuts them down in reverse order.
#pragma once

#include "config/options.hpp"

#include <memory>

namespace skulk::daemon {

class Daemon {
public:
    explicit Daemon(config::Options options);
    ~Daemon();
    // Blocks until a stop signal arrives. Returns the process exit code.
    int run();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace skulk::daemon
