#include "api/auth_cli.hpp"

#include "api/auth.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

namespace skulk::api {
namespace {

constexpr const char *kUsage =
    "Usage: skulk-host api-key add --scope inference|admin [--file FILE] [--label TEXT]\n"
    "       skulk-host api-key hash --scope inference|admin [--label TEXT]   (reads the key from stdin)\n"
    "FILE defaults to $SKULK_API_KEYS. The key is printed once; only its hash is stored.";

// Operator-chosen keys shorter than this are refused: the file holds a fast
// hash (auth.hpp), which only stands for keys too long to guess.
constexpr size_t kMinKeyLength = 24;

int fail(const std::string &msg) {
    std::fprintf(stderr, "skulk-host api-key: %s\n", msg.c_str());
    return 2;
}

// Appends `line` to `file` (created 0600), after checking the file parses.
std::string append_line(const std::filesystem::path &file, const std::string &line) {
    std::error_code ec;
    bool needs_newline = false;
    if (std::filesystem::exists(file, ec)) {
        const auto parsed = read_key_file(file);
        if (!parsed.error.empty()) return parsed.error + " (fix the file first)";
        if (const auto size = std::filesystem::file_size(file, ec); !ec && size > 0) {
            FILE *f = std::fopen(file.c_str(), "rb");
            if (f && std::fseek(f, -1, SEEK_END) == 0) needs_newline = std::fgetc(f) != '\n';
            if (f) std::fclose(f);
        }
    }
    const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return file.string() + ": cannot open for writing: " + std::strerror(errno);
    const std::string text = (needs_newline ? "\n" : "") + line + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
    const int err = errno;
    ::close(fd);
    return ok ? "" : file.string() + ": cannot write: " + std::strerror(err);
}

} // namespace

int api_key_command(int argc, char **argv) {
    if (argc < 2) return fail(std::string("which action?\n") + kUsage);
    if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        std::printf("%s\n", kUsage);
        return 0;
    }
    const std::string action = argv[1];
    if (action != "add" && action != "hash") return fail("unknown action \"" + action + "\"\n" + kUsage);
    std::map<std::string, std::string> flags;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a != "--scope" && a != "--file" && a != "--label") return fail("unknown option " + a + "\n" + kUsage);
        if (i + 1 >= argc) return fail(a + " needs a value");
        flags[a] = argv[++i];
    }
    if (!flags.count("--scope")) return fail("--scope inference|admin is required");
    const auto scope = parse_scope(flags["--scope"]);
    if (!scope) return fail("--scope must be inference or admin, got \"" + flags["--scope"] + "\"");
    const std::string label = flags["--label"];
    if (label.find('\n') != std::string::npos) return fail("--label must be one line");

    if (action == "hash") {
        if (flags.count("--file")) return fail("hash prints the line; it takes no --file");
        std::string key;
        std::getline(std::cin, key);
        while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
        if (key.size() < kMinKeyLength)
            return fail("the key on stdin is " + std::to_string(key.size()) + " characters; at least " +
                        std::to_string(kMinKeyLength) + " are needed (or let `api-key add` make one)");
        std::printf("%s\n", key_file_line(*scope, key, label).c_str());
        return 0;
    }
    std::string file = flags["--file"];
    if (file.empty())
        if (const char *e = std::getenv("SKULK_API_KEYS"); e && *e) file = e;
    if (file.empty()) return fail("name the key file with --file FILE or SKULK_API_KEYS");
    const std::string key = generate_key();
    if (auto err = append_line(file, key_file_line(*scope, key, label)); !err.empty()) return fail(err);
    std::printf("%s\n", key.c_str());
    std::fprintf(stderr, "added an %s key to %s; it is shown only this once\n", std::string(to_string(*scope)).c_str(),
                 file.c_str());
    return 0;
}

} // namespace skulk::api
