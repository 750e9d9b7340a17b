// api_stream_client: one streamed /v1/completions request read with libcurl,
// timed the way api_bench.mjs times its node client, for a client whose own
// CPU per token is small next to the host's (on a 2-core machine the
// client's work per token preempts the engine just as the host's does).
//   api_stream_client [--sched-idle] URL BODY_JSON
// Prints {"status":S,"ttft_ms":T,"decode_tokens_per_s":R,"tokens":N,
// "median_token_ms":M,"cpu_us_per_token":C}: tokens from the final usage
// chunk (the body should ask for include_usage); decode rate = tokens after
// the first read that carried text / time from that read to the end of the
// response; C = this process's user + system CPU during the request / tokens.
// --sched-idle: run as SCHED_IDLE, so the client gets a core only when
// nothing else wants it. A load generator belongs on another machine; on a
// machine where the engine's threads fill every core this is the nearest
// thing, and it leaves the host's own cost per token (its threads still run
// at normal priority) as the only difference from skulk-generate. Reads
// then come in bursts, which the decode rate tolerates: it counts from the
// first read, over the tokens that read did not already hold.
#include <curl/curl.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;

struct Reader {
    clk::time_point first{}, last{};
    std::vector<double> intervals; // seconds per token, from one text read to the next
    bool seen_text = false;
    long in_first = 0; // text events in the first read that had text
    std::string tail;  // the last bytes, where the usage chunk ends up
};

// Text events in one read: a completion chunk's "text" that is not "".
long count_text(std::string_view data) {
    static constexpr std::string_view key = R"("text":")";
    long n = 0;
    for (size_t at = data.find(key); at != std::string_view::npos; at = data.find(key, at + key.size()))
        if (at + key.size() < data.size() && data[at + key.size()] != '"') ++n;
    return n;
}

size_t on_data(char *ptr, size_t size, size_t nmemb, void *user) {
    auto &r = *static_cast<Reader *>(user);
    const std::string_view data(ptr, size * nmemb);
    if (const long n = count_text(data); n > 0) {
        const auto now = clk::now();
        if (!r.seen_text) {
            r.first = now;
            r.seen_text = true;
            r.in_first = n;
        } else {
            const double dt = std::chrono::duration<double>(now - r.last).count() / n;
            r.intervals.insert(r.intervals.end(), n, dt);
        }
        r.last = now;
    }
    r.tail.append(data);
    if (r.tail.size() > 8192) r.tail.erase(0, r.tail.size() - 4096);
    return data.size();
}

long completion_tokens(const std::string &tail) {
    static constexpr std::string_view key = R"("completion_tokens":)";
    const size_t at = tail.rfind(key);
    return at == std::string::npos ? 0 : std::strtol(tail.c_str() + at + key.size(), nullptr, 10);
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const auto secs = [](const timeval &t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    return secs(u.ru_utime) + secs(u.ru_stime);
}

} // namespace

int main(int argc, char **argv) {
    const bool sched_idle = argc > 1 && std::string_view(argv[1]) == "--sched-idle";
    if (sched_idle) {
        --argc;
        ++argv;
    }
    if (argc != 3) {
        std::fprintf(stderr, "usage: api_stream_client [--sched-idle] URL BODY_JSON\n");
        return 2;
    }
    if (sched_param none{}; sched_idle && sched_setscheduler(0, SCHED_IDLE, &none) != 0) {
        std::perror("api_stream_client: sched_setscheduler(SCHED_IDLE)");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    curl_slist *headers = curl_slist_append(nullptr, "content-type: application/json");
    Reader r;
    curl_easy_setopt(curl, CURLOPT_URL, argv[1]);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, argv[2]);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    const double cpu0 = cpu_seconds();
    const auto t0 = clk::now();
    const CURLcode rc = curl_easy_perform(curl);
    const auto end = clk::now();
    const double cpu = cpu_seconds() - cpu0;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK || status != 200) {
        std::fprintf(stderr, "api_stream_client: %s: %s, HTTP %ld: %s\n", argv[1], curl_easy_strerror(rc), status,
                     r.tail.c_str());
        return 1;
    }
    const long tokens = completion_tokens(r.tail);
    const double ttft_ms = std::chrono::duration<double, std::milli>(r.first - t0).count();
    const double decode_s = std::chrono::duration<double>(end - r.first).count();
    const double tps = r.seen_text && tokens > r.in_first && decode_s > 0 ? (tokens - r.in_first) / decode_s : 0;
    double median_ms = 0;
    if (!r.intervals.empty()) {
        auto mid = r.intervals.begin() + r.intervals.size() / 2;
        std::nth_element(r.intervals.begin(), mid, r.intervals.end());
        median_ms = *mid * 1000;
    }
    std::printf("{\"status\":%ld,\"ttft_ms\":%.3f,\"decode_tokens_per_s\":%.3f,\"tokens\":%ld,\"median_token_ms\":%.4f,"
                "\"cpu_us_per_token\":%.1f}\n",
                status, r.seen_text ? ttft_ms : 0.0, tps, tokens, median_ms, tokens > 0 ? cpu * 1e6 / double(tokens) : 0.0);
    return 0;
}
