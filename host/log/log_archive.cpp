#include "log/log_archive.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace skulk::log {
namespace {

struct FileCloser {
    void operator()(std::FILE *f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

struct CctxFree {
    void operator()(ZSTD_CCtx *c) const { ZSTD_freeCCtx(c); }
};

// Streams in -> out through one compression context. Returns "" or the error.
std::string compress_stream(std::FILE *in, std::FILE *out) {
    std::unique_ptr<ZSTD_CCtx, CctxFree> cctx(ZSTD_createCCtx());
    if (!cctx) return "cannot create a zstd context";
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 3);
    std::vector<char> in_buf(ZSTD_CStreamInSize()), out_buf(ZSTD_CStreamOutSize());
    for (;;) {
        const size_t got = std::fread(in_buf.data(), 1, in_buf.size(), in);
        if (std::ferror(in)) return "read error";
        const bool last = got < in_buf.size();
        ZSTD_inBuffer input{in_buf.data(), got, 0};
        for (bool done = false; !done;) {
            ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
            const size_t left = ZSTD_compressStream2(cctx.get(), &output, &input, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left)) return ZSTD_getErrorName(left);
            if (std::fwrite(out_buf.data(), 1, output.pos, out) != output.pos) return "write error (disk full?)";
            done = last ? left == 0 : input.pos == input.size;
        }
        if (last) return "";
    }
}

// "<base>.<n>" or "<base>.<n>.zst" -> n; 0 when the name is neither.
unsigned index_of(const std::string &name, const std::string &base, bool &compressed) {
    if (name.size() <= base.size() + 1 || name.compare(0, base.size() + 1, base + ".") != 0) return 0;
    std::string rest = name.substr(base.size() + 1);
    compressed = rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".zst") == 0;
    if (compressed) rest.resize(rest.size() - 4);
    if (rest.empty() || rest.size() > 9 || rest.find_first_not_of("0123456789") != std::string::npos) return 0;
    return unsigned(std::stoul(rest));
}

} // namespace

std::string compress_file(const std::filesystem::path &src, const std::filesystem::path &dst) {
    const auto tmp = std::filesystem::path(dst.string() + ".tmp");
    std::string err;
    {
        File in(std::fopen(src.c_str(), "rb"));
        if (!in) return "cannot read " + src.string();
        File out(std::fopen(tmp.c_str(), "wb"));
        if (!out) return "cannot create " + tmp.string();
        err = compress_stream(in.get(), out.get());
        if (err.empty() && std::fflush(out.get()) != 0) err = "write error (disk full?)";
    }
    std::error_code ec;
    if (!err.empty()) {
        std::filesystem::remove(tmp, ec);
        return "cannot compress " + src.string() + ": " + err;
    }
    std::filesystem::rename(tmp, dst, ec);
    if (ec) return "cannot rename " + tmp.string() + ": " + ec.message();
    std::filesystem::remove(src, ec);
    return "";
}

std::vector<ArchiveEntry> list_archives(const std::filesystem::path &dir, const std::string &base) {
    std::vector<ArchiveEntry> out;
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(dir, ec)) {
        bool compressed = false;
        if (const unsigned n = index_of(e.path().filename().string(), base, compressed); n > 0)
            out.push_back({n, e.path(), compressed});
    }
    std::sort(out.begin(), out.end(), [](const ArchiveEntry &a, const ArchiveEntry &b) {
        return a.index != b.index ? a.index < b.index : a.compressed < b.compressed;
    });
    return out;
}

unsigned next_archive_index(const std::filesystem::path &dir, const std::string &base) {
    const auto all = list_archives(dir, base);
    return all.empty() ? 1 : all.back().index + 1;
}

void prune_archives(const std::filesystem::path &dir, const std::string &base, unsigned keep) {
    std::vector<ArchiveEntry> done;
    for (auto &a : list_archives(dir, base))
        if (a.compressed) done.push_back(std::move(a));
    std::error_code ec;
    for (size_t i = 0; i + keep < done.size(); ++i) std::filesystem::remove(done[i].path, ec);
}

} // namespace skulk::log
