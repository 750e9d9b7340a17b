// skulk-gguf info FILE [--json] | tokenize FILE TEXT | synth ... OUT.gguf
#include "commands.hpp"

#include "gguf/gguf.hpp"
#include "tokenizer/vocab.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {
void usage(FILE *out) {
    std::fputs("usage:\n"
               "  skulk-gguf info FILE [--json]            metadata and tensor table\n"
               "  skulk-gguf tokenize FILE TEXT [--parse-special] [--no-add-special]\n"
               "                                           token ids as a JSON array\n"
               "  skulk-gguf synth --arch llama|qwen2|qwen3 --shape smollm2-135m|qwen2.5-0.5b|tinyllama-1.1b|custom\n"
               "        [--n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N ...] --type T\n"
               "        --vocab-from VOCAB.gguf [--seed N] OUT.gguf\n"
               "                                           a model with random weights\n",
               out);
}
} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    std::string cmd = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (cmd == "info") return skulk::tools::gguf::info_command(args);
        if (cmd == "tokenize") return skulk::tools::gguf::tokenize_command(args);
        if (cmd == "synth") return skulk::tools::gguf::synth_command(args);
        if (cmd == "-h" || cmd == "--help" || cmd == "help") {
            usage(stdout);
            return 0;
        }
        std::fprintf(stderr, "skulk-gguf: unknown command '%s'\n", cmd.c_str());
        usage(stderr);
        return 2;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "skulk-gguf %s: %s\n", cmd.c_str(), e.what());
        return 1;
    }
}
