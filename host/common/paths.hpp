// Where files live (DESIGN.md section 8): XDG paths on Linux, SKULK_HOME
// overriding all of them.
#pragma once
#include <filesystem>

namespace skulk {
std::filesystem::path default_data_dir();   // $SKULK_HOME or $XDG_DATA_HOME/skulk
std::filesystem::path default_log_dir();    // $SKULK_HOME/logs or $XDG_CACHE_HOME/skulk/logs
std::filesystem::path executable_dir();     // the folder of the running binary
}
