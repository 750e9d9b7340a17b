#include "eventlog/event_log.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sys/statvfs.h>
#include <unistd.h>

namespace skulk::eventlog {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kHeader = "SKEVLOG1";
constexpr size_t kRecordHeader = 8;

uint32_t crc(std::string_view p) {
    return uint32_t(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef *>(p.data()), uInt(p.size())));
}
void put_u32(std::string &out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
uint32_t get_u32(const char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(p[i])) << (8 * i);
    return v;
}

// Regular files only: a device (a test's /dev/full) reads forever.
std::string read_file(const fs::path &p) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) return {};
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

bool write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= size_t(w);
    }
    return true;
}

// events.<seq>.bin.zst -> seq; -1 for anything else.
long archive_seq(const fs::path &p) {
    const std::string name = p.filename().string();
    if (name.rfind("events.", 0) != 0 || name.size() <= 15 || name.substr(name.size() - 8) != ".bin.zst") return -1;
    const std::string mid = name.substr(7, name.size() - 15);
    if (mid.empty() || mid.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stol(mid);
}

std::map<long, fs::path> list_archives(const fs::path &dir) {
    std::map<long, fs::path> out;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(dir, ec))
        if (long s = archive_seq(e.path()); s >= 0) out[s] = e.path();
    return out;
}

} // namespace

EventLog::EventLog(Options options, std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), log_(std::move(log)) {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec) {
        degrade("cannot create " + options_.dir.string() + ": " + ec.message());
        return;
    }
    if (below_floor()) return;
    open_active();
}

EventLog::~EventLog() {
    if (fd_ >= 0) ::close(fd_);
}

ReplayStats EventLog::parse(std::string_view bytes, const std::function<void(std::string_view)> &fn,
                            uint64_t *good_prefix) {
    ReplayStats st;
    if (bytes.size() < kHeader.size() || bytes.substr(0, kHeader.size()) != kHeader) {
        // A missing or torn header: nothing in this file is trustworthy.
        st.dropped_bytes = bytes.size();
        if (good_prefix) *good_prefix = 0;
        return st;
    }
    size_t off = kHeader.size();
    while (off + kRecordHeader <= bytes.size()) {
        const uint32_t len = get_u32(bytes.data() + off);
        const uint32_t sum = get_u32(bytes.data() + off + 4);
        if (len > bytes.size() - off - kRecordHeader) break; // torn: payload cut short
        const std::string_view payload = bytes.substr(off + kRecordHeader, len);
        if (crc(payload) != sum) break;                      // torn or corrupt
        fn(payload);
        ++st.records;
        off += kRecordHeader + len;
    }
    st.dropped_bytes = bytes.size() - off;
    if (good_prefix) *good_prefix = off;
    return st;
}

ReplayStats EventLog::replay(const std::function<void(std::string_view)> &fn) {
    ReplayStats total;
    for (const auto &[seq, path] : list_archives(options_.dir)) {
        const std::string z = read_file(path);
        const auto size = ZSTD_getFrameContentSize(z.data(), z.size());
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
            total.error = "archive " + path.string() + " is not a zstd frame";
            log_->error("event log: {}; skipped", total.error);
            continue;
        }
        std::string raw(size, '\0');
        const size_t n = ZSTD_decompress(raw.data(), raw.size(), z.data(), z.size());
        if (ZSTD_isError(n)) {
            total.error = "archive " + path.string() + ": " + ZSTD_getErrorName(n);
            log_->error("event log: {}; skipped", total.error);
            continue;
        }
        total.records += parse(raw, fn).records;
    }
    const std::string active = read_file(active_path());
    uint64_t good = 0;
    const auto st = parse(active, fn, &good);
    total.records += st.records;
    total.dropped_bytes = st.dropped_bytes;
    if (st.dropped_bytes && fd_ >= 0) {
        log_->warn("event log: dropped a torn tail of {} bytes at offset {} of {}", st.dropped_bytes, good,
                   active_path().string());
        // Keep the good prefix; a torn header means the file starts over.
        if (good == 0) {
            if (::ftruncate(fd_, 0) != 0 || !write_all(fd_, kHeader.data(), kHeader.size())) degrade("cannot rewrite the header");
            active_bytes_ = kHeader.size();
        } else {
            if (::ftruncate(fd_, off_t(good)) != 0) degrade(std::string("cannot truncate the torn tail: ") + std::strerror(errno));
            active_bytes_ = good;
        }
    }
    return total;
}

void EventLog::open_active() {
    fd_ = ::open(active_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        degrade("cannot open " + active_path().string() + ": " + std::strerror(errno));
        return;
    }
    const off_t size = ::lseek(fd_, 0, SEEK_END);
    active_bytes_ = size > 0 ? uint64_t(size) : 0;
    if (active_bytes_ == 0) {
        if (!write_all(fd_, kHeader.data(), kHeader.size())) {
            degrade("cannot write " + active_path().string() + ": " + std::strerror(errno));
            return;
        }
        active_bytes_ = kHeader.size();
    }
}

void EventLog::append(std::string_view record) {
    ++appended_;
    if (counting_only_) return;
    if (options_.free_check_every && appended_ % options_.free_check_every == 0 && below_floor()) return;
    buffer_.clear();
    put_u32(buffer_, uint32_t(record.size()));
    put_u32(buffer_, crc(record));
    buffer_.append(record);
    if (!write_all(fd_, buffer_.data(), buffer_.size())) {
        degrade("cannot append to " + active_path().string() + ": " + std::strerror(errno));
        return;
    }
    active_bytes_ += buffer_.size();
    if (active_bytes_ >= options_.rotate_bytes) rotate();
}

void EventLog::rotate() {
    ::close(fd_);
    fd_ = -1;
    const std::string raw = read_file(active_path());
    std::string z(ZSTD_compressBound(raw.size()), '\0');
    const size_t n = ZSTD_compress(z.data(), z.size(), raw.data(), raw.size(), 3);
    if (ZSTD_isError(n)) {
        degrade(std::string("cannot compress the event log: ") + ZSTD_getErrorName(n));
        return;
    }
    const auto archives = list_archives(options_.dir);
    const long seq = archives.empty() ? 1 : archives.rbegin()->first + 1;
    const fs::path dst = options_.dir / ("events." + std::to_string(seq) + ".bin.zst");
    const fs::path tmp = dst.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(z.data(), std::streamsize(n));
        if (!out.flush()) {
            std::error_code ec;
            fs::remove(tmp, ec);
            degrade("cannot write archive " + tmp.string() + " (disk full?)");
            return;
        }
    }
    std::error_code ec;
    fs::rename(tmp, dst, ec);
    if (!ec) fs::remove(active_path(), ec);
    if (ec) {
        degrade("cannot rotate the event log: " + ec.message());
        return;
    }
    log_->info("event log: rotated {} bytes into {} ({} bytes)", raw.size(), dst.filename().string(), n);
    prune_archives();
    open_active();
}

void EventLog::prune_archives() {
    auto archives = list_archives(options_.dir);
    uint64_t total = 0;
    std::error_code ec;
    for (const auto &[seq, p] : archives) total += fs::file_size(p, ec);
    while (!archives.empty() && (archives.size() > options_.max_archives || total > options_.max_archive_bytes)) {
        const auto &oldest = archives.begin()->second;
        total -= std::min<uint64_t>(total, fs::file_size(oldest, ec));
        fs::remove(oldest, ec);
        archives.erase(archives.begin());
    }
}

bool EventLog::below_floor() {
    struct statvfs sv{};
    if (::statvfs(options_.dir.c_str(), &sv) != 0) return false;
    const uint64_t free_bytes = uint64_t(sv.f_bavail) * sv.f_frsize;
    if (free_bytes >= options_.min_free_bytes) return false;
    degrade("free space on " + options_.dir.string() + " is " + std::to_string(free_bytes) +
            " bytes, below the floor of " + std::to_string(options_.min_free_bytes) + " bytes");
    return true;
}

void EventLog::degrade(const std::string &why) {
    if (counting_only_) return;
    counting_only_ = true;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    log_->critical("event log: {}; persistence is now counting-only (events are counted, not written) and the node "
                   "keeps serving; free disk space and restart the node to resume persistence", why);
}

} // namespace skulk::eventlog
