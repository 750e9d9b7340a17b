// The runner's status lines to its supervisor (docs/runner-lifecycle.md):
// `loading <layers>/<total>`, `warming_up`, `ready`, `failed <message>`,
// `refused <arithmetic>` (the shard does not fit this node) and
// `pipeline_endpoint <address>` (rank 0's hub is bound), `request_endpoint
// <address>` (rank 0 takes requests from other nodes there), one per line on the
// fd named by SKULK_STATUS_FD. Without it: log only.
#pragma once

#include <string_view>

namespace skulk::runner {

class StatusReporter {
public:
    // Reads SKULK_STATUS_FD (absent or invalid: no fd).
    StatusReporter();
    void loading(unsigned layers, unsigned total);
    void warming_up();
    void ready();
    void failed(std::string_view message);
    void refused(std::string_view message);
    void pipeline_endpoint(std::string_view endpoint);
    void request_endpoint(std::string_view endpoint);

private:
    void line(std::string_view text);
    int fd_ = -1;
};

} // namespace skulk::runner
