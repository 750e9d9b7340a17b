// The skulk-gguf sub-commands; each returns the process exit status.
#pragma once

#include <string>
#include <vector>

namespace skulk::tools::gguf {

int info_command(const std::vector<std::string> &args);
int tokenize_command(const std::vector<std::string> &args);
int synth_command(const std::vector<std::string> &args);

} // namespace skulk::tools::gguf
