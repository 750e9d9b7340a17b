#include "eventlog/event_log.hpp"

#include "eventlog/record_format.hpp"

#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sys/statvfs.h>
#include <unistd.h>

namespace skulk::eventlog {
namespace fs = std::filesystem;
namespace {

using format::kHeader;
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

// "bytes 120..151 (32 bytes)", for each damaged region.
std::string describe_regions(const std::vector<Region> &regions) {
    std::string out;
    for (const auto &r : regions) {
        if (!out.empty()) out += ", ";
        out += "bytes " + std::to_string(r.offset) + ".." + std::to_string(r.offset + r.bytes - 1) + " (" +
               std::to_string(r.bytes) + " bytes)";
    }
    return out;
}

// A name for the damaged original that no earlier one has taken.
fs::path aside_name(const fs::path &active) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const std::string base = active.string() + ".damaged-" + stamp;
    std::error_code ec;
    fs::path p = base;
    for (int n = 2; fs::exists(p, ec); ++n) p = base + "-" + std::to_string(n);
    return p;
}

// Written and synced before it replaces anything: a crash right after the
// swap must not leave an events.bin whose data never reached the disk.
bool write_synced(const fs::path &p, std::string_view bytes) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    const bool ok = write_all(fd, bytes.data(), bytes.size()) && ::fsync(fd) == 0;
    return ::close(fd) == 0 && ok;
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
                            const PositionOf &position_of) {
    ReplayStats st;
    const Scan s = scan(bytes, position_of);
    for (const auto &r : s.records) fn(r.payload);
    st.records = s.records.size();
    st.dropped_bytes = s.dropped_bytes();
    st.damaged = s.damaged;
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
        total.records += parse(raw, fn, options_.position_of).records;
    }
    ReplayStats active = replay_active(fn);
    active.records += total.records;
    if (active.error.empty()) active.error = total.error;
    return active;
}

ReplayStats EventLog::replay_active(const std::function<void(std::string_view)> &fn) {
    ReplayStats st;
    const fs::path path = active_path();
    const std::string bytes = read_file(path);
    if (bytes.empty()) return st;
    const Scan s = scan(bytes, options_.position_of);
    st.damaged = s.damaged;
    st.dropped_bytes = s.dropped_bytes();
    if (!s.damaged.empty()) st.gap = describe_gap(s, bytes.size(), options_.position_of);
    const std::string where = path.string() + " is damaged at " + describe_regions(s.damaged);
    if (!st.gap.empty() && options_.on_gap == GapPolicy::refuse) {
        // Nothing is replayed or changed: a restart with the override finds the same damage.
        st.refused = "event log " + where + ": the events " + st.gap + " are missing (" +
                     std::to_string(s.records.size()) + " intact record(s) found around the damage) and this node "
                     "has no peers to fill them from. Not starting; nothing on disk was changed. Start it with "
                     "--bootstrap-peers so the cluster's snapshot fills the gap, or set SKULK_EVENTLOG_ACCEPT_GAP=1 to "
                     "start from the intact records (the damaged file is then kept as events.bin.damaged-<time>)";
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        return st;
    }
    for (const auto &r : s.records) fn(r.payload);
    st.records = s.records.size();
    if (s.damaged.empty()) return st;
    // Below the floor (fd_ closed) the file stays as it is: nothing will be
    // appended to it and the next start with room recovers it.
    if (fd_ >= 0) st.moved_aside = recover_file(s);
    const std::string cost = !st.gap.empty()
        ? "the events " + st.gap + " are missing" +
              (options_.on_gap == GapPolicy::fill_from_cluster
                   ? "; the master's snapshot replaces this node's view when it joins the cluster"
                   : "; starting from the intact records anyway (SKULK_EVENTLOG_ACCEPT_GAP=1)")
        : s.damaged_at_tail(bytes.size()) ? "a torn tail (the record being written when the node stopped) was dropped"
                                          : "no event is missing";
    log_->warn("event log: {}: {} intact record(s) kept, {}; {}", where, s.records.size(), cost,
               st.moved_aside.empty() ? "the file is left as it is (counting-only)"
                                      : "the damaged original is kept as " + st.moved_aside.string());
    return st;
}

// Writes the clean log next to the damaged one, links the damaged one to
// its aside name, then renames the clean one over events.bin: at every
// moment events.bin exists (old or new), and the original is never lost.
fs::path EventLog::recover_file(const Scan &s) {
    const fs::path active = active_path();
    const fs::path tmp = active.string() + ".tmp";
    std::error_code ec;
    if (!write_synced(tmp, rebuild(s))) {
        const int err = errno;
        fs::remove(tmp, ec);
        degrade("cannot write the recovered event log " + tmp.string() + ": " + std::strerror(err) + "; the damaged " +
                active.string() + " is left as it is");
        return {};
    }
    const fs::path aside = aside_name(active);
    ::close(fd_);
    fd_ = -1;
    // A file system without hard links: a plain rename (events.bin is missing for a moment).
    if (::link(active.c_str(), aside.c_str()) != 0) fs::rename(active, aside, ec);
    if (!ec) fs::rename(tmp, active, ec);
    if (ec) {
        degrade("cannot put the recovered event log in place: " + ec.message());
        return fs::exists(aside) ? aside : fs::path{};
    }
    open_active();
    return aside;
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
    format::put_record(buffer_, record);
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
