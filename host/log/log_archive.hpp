// The archives of the durable log: <base>.<n>.zst next to <base>, n counting
// up (the highest is the newest). A raw <base>.<n> is a rotation whose
// compression had not finished (a crash): it is compressed at the next start.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace skulk::log {

// zstd-compresses src into dst (through dst.tmp, then a rename) and removes
// src. Returns "" or what failed, naming the file.
std::string compress_file(const std::filesystem::path &src, const std::filesystem::path &dst);

struct ArchiveEntry {
    unsigned index = 0;
    std::filesystem::path path;
    bool compressed = false; // <base>.<n>.zst, else a raw <base>.<n>
};

// Every <base>.<n>[.zst] in dir, by index ascending.
std::vector<ArchiveEntry> list_archives(const std::filesystem::path &dir, const std::string &base);

// The index the next archive takes: one above the highest present (1 when none).
unsigned next_archive_index(const std::filesystem::path &dir, const std::string &base);

// Removes the oldest compressed archives until at most `keep` remain.
void prune_archives(const std::filesystem::path &dir, const std::string &base, unsigned keep);

} // namespace skulk::log
