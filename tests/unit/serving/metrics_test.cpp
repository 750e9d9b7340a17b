#include "api/metrics.hpp"

#include <gtest/gtest.h>

#include <regex>

using namespace skulk::api;

namespace {
// The value of the first sample line matching `name_and_labels` exactly.
double sample(const std::string &text, const std::string &name_and_labels) {
    const auto at = text.find("\n" + name_and_labels + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + name_and_labels.size() + 2));
}
} // namespace

TEST(Histogram, BucketsAreCumulativeWithInf) {
    Histogram h({0.1, 1});
    h.observe(0.05);
    h.observe(0.1); // le is inclusive
    h.observe(0.5);
    h.observe(3);
    std::string out = "\n";
    h.render(out, "x", "help");
    EXPECT_EQ(sample(out, "x_bucket{le=\"0.1\"}"), 2);
    EXPECT_EQ(sample(out, "x_bucket{le=\"1\"}"), 3);
    EXPECT_EQ(sample(out, "x_bucket{le=\"+Inf\"}"), 4);
    EXPECT_EQ(sample(out, "x_count"), 4);
    EXPECT_NEAR(sample(out, "x_sum"), 3.65, 1e-5);
    EXPECT_NE(out.find("# TYPE x histogram"), std::string::npos);
}

TEST(Metrics, RendersCountersGaugesAndSnapshot) {
    Metrics m;
    m.count_request("/v1/completions", 200);
    m.count_request("/v1/completions", 200);
    m.count_request("/v1/chat/completions", 404);
    m.add_tokens(5, 7);
    m.add_tokens(1, 3);
    m.queued = 2;
    MetricsSnapshot snap;
    snap.runners_by_phase = {{"Ready", 1}, {"Loading", 2}};
    snap.eventlog_counting_only = true;
    snap.eventlog_appended = 42;
    const std::string out = "\n" + m.render(snap);
    EXPECT_EQ(sample(out, R"(skulk_http_requests_total{route="/v1/completions",status="200"})"), 2);
    EXPECT_EQ(sample(out, R"(skulk_http_requests_total{route="/v1/chat/completions",status="404"})"), 1);
    EXPECT_EQ(sample(out, "skulk_generated_tokens_total"), 10);
    EXPECT_EQ(sample(out, "skulk_prompt_tokens_total"), 6);
    EXPECT_EQ(sample(out, "skulk_queue_depth"), 2);
    EXPECT_EQ(sample(out, R"(skulk_runners{phase="Loading"})"), 2);
    EXPECT_EQ(sample(out, "skulk_eventlog_counting_only"), 1);
    EXPECT_EQ(sample(out, "skulk_eventlog_appended_total"), 42);
    // Every non-comment line is "name[{labels}] value".
    const std::regex line(R"([a-z_]+(\{[^}]*\})? [-+0-9.eInf]+)");
    size_t start = 1;
    while (start < out.size()) {
        const auto end = out.find('\n', start);
        const std::string l = out.substr(start, end - start);
        if (!l.empty() && l[0] != '#') EXPECT_TRUE(std::regex_match(l, line)) << l;
        start = end + 1;
    }
}
