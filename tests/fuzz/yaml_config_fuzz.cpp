// libFuzzer target: arbitrary text as skulk.yaml. apply_yaml_config must
// answer every input with "" or an error naming the file: no exception,
// crash, hang or sanitizer report. The text reaches it through a memfd
// (/proc/self/fd/N), so no file is written.
#include "config/yaml_config.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int fd = ::memfd_create("skulk-yaml-fuzz", MFD_CLOEXEC);
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != ssize_t(size)) std::abort();
    skulk::config::Options o;
    const std::string err = skulk::config::apply_yaml_config(path, o, {"cluster.port"}, "fuzz-host");
    if (!err.empty() && err.rfind(path, 0) != 0) std::abort(); // every error names the file
    return 0;
}
