#include "telemetry/publisher.hpp"

#include "log/logging.hpp"

#include <chrono>

namespace skulk::telemetry {
namespace {

constexpr auto kPeriod = std::chrono::seconds(2);
constexpr auto kSample = std::chrono::milliseconds(500);

bool moved(uint64_t a, uint64_t b, uint64_t total) {
    const uint64_t d = a > b ? a - b : b - a;
    return d * 100 > total;
}

} // namespace

bool changed_noticeably(const Reading &last, const Reading &now) {
    return last.backends != now.backends || last.ram_total != now.ram_total || last.gpu_memory_total != now.gpu_memory_total ||
           moved(last.ram_available, now.ram_available, now.ram_total) ||
           moved(last.disk_available, now.disk_available, now.disk_total) ||
           moved(last.gpu_memory_available.value_or(0), now.gpu_memory_available.value_or(0), now.gpu_memory_total.value_or(0));
}

Publisher::Publisher(std::filesystem::path data_dir, std::vector<BackendOffer> backends, Overrides overrides, Sink sink)
    : data_dir_(std::move(data_dir)), backends_(std::move(backends)), overrides_(std::move(overrides)), sink_(std::move(sink)) {}

Publisher::~Publisher() { stop(); }

void Publisher::start() {
    if (overrides_.disabled) {
        log::get("telemetry")->warn("SKULK_TEST_TELEMETRY_DISABLED=1: this node publishes no telemetry (a test setting)");
        return;
    }
    thread_ = std::thread([this] { loop(); });
}

void Publisher::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Publisher::loop() {
    std::optional<Reading> last;
    auto last_sent = std::chrono::steady_clock::now();
    std::unique_lock lk(mu_);
    while (!stopping_) {
        lk.unlock();
        const Reading now = gather(data_dir_, backends_, overrides_);
        const auto t = std::chrono::steady_clock::now();
        if (!last || changed_noticeably(*last, now) || t - last_sent >= kPeriod) {
            sink_(now);
            last = now;
            last_sent = t;
        }
        lk.lock();
        cv_.wait_for(lk, kSample, [this] { return stopping_; });
    }
}

} // namespace skulk::telemetry
