#include "plugin/plugins_command.hpp"

#include <cstdio>

namespace skulk::plugin {
int plugins_command(int, char **) {
    std::fprintf(stderr, "skulk-host plugins: not implemented yet\n");
    return 2;
}
} // namespace skulk::plugin
