// `skulk-host plugins`: lists every plugin file found, with kind, name,
// version, ABI, score and backend tags, or why it was refused.
#pragma once

namespace skulk::plugin {
// argv[0] is "plugins". Returns the process exit code.
int plugins_command(int argc, char **argv);
}
