// runner/logprobs.hpp pieces and the logprobs fields of the runner protocol.
#include "runner/logprobs.hpp"
#include "runner/protocol.hpp"


#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

using namespace skulk::runner;
using nlohmann::json;

TEST(RunnerLogprobs, NormaliserIsTheLogSumExp) {
    std::mt19937 rng(7);
    std::normal_distribution<float> d(0.f, 8.f);
    std::vector<float> row(5000);
    for (auto &x : row) x = d(rng);
    row[17] = 60.f; // large logits must not overflow
    const float norm = log_normaliser(row.data(), int32_t(row.size()));
    double sum = 0;
    for (float x : row) sum += std::exp(double(x) - norm);
    EXPECT_NEAR(sum, 1.0, 1e-4);
}

TEST(RunnerLogprobs, TopLogitsAreTheBestInOrderTiesByLowerId) {
    const std::vector<float> row{0.5f, 3.f, -1.f, 3.f, 2.f, 9.f};
    std::vector<std::pair<float, int32_t>> top;
    top_logits(row.data(), 6, 4, top);
    ASSERT_EQ(top.size(), 4u);
    EXPECT_EQ(top[0].second, 5);
    EXPECT_EQ(top[1].second, 1);
    EXPECT_EQ(top[2].second, 3);
    EXPECT_EQ(top[3].second, 4);
    top_logits(row.data(), 6, 0, top);
    EXPECT_TRUE(top.empty());
    top_logits(row.data(), 6, 20, top); // more than the vocabulary
    EXPECT_EQ(top.size(), 6u);
}

TEST(RunnerLogprobs, ProtocolReadsLogprobsAndNamesBadFields) {
    auto msg = [](const std::string &extra) {
        return R"({"v":1,"op":"generate","command_id":"c","request":{"kind":"completion","prompt":"x")" + extra + "}}";
    };
    ClientMessage m;
    ProtocolError e;
    ASSERT_TRUE(decode_client_message(msg(R"(,"logprobs":true,"top_logprobs":5)"), m, e)) << e.message;
    EXPECT_TRUE(m.request.logprobs);
    EXPECT_EQ(m.request.top_logprobs, 5);
    ClientMessage m2;
    ASSERT_TRUE(decode_client_message(msg(""), m2, e));
    EXPECT_FALSE(m2.request.logprobs);
    for (const auto &[extra, field] : {std::pair<std::string, std::string>{R"(,"logprobs":true,"top_logprobs":21)", "request.top_logprobs"},
                                       {R"(,"top_logprobs":2)", "request.top_logprobs"},
                                       {R"(,"logprobs":1)", "request.logprobs"}}) {
        ProtocolError err;
        EXPECT_FALSE(decode_client_message(msg(extra), m, err)) << extra;
        EXPECT_NE(err.message.find(field), std::string::npos) << err.message;
    }
}

TEST(RunnerLogprobs, DeltaEventCarriesTheEntries) {
    std::string out;
    delta_event("cmd-1", "Hi", R"({"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]})", out);
    const json j = json::parse(out);
    EXPECT_EQ(j["type"], "delta");
    EXPECT_EQ(j["text"], "Hi");
    EXPECT_EQ(j["logprobs"][0]["logprob"], -0.5);
    delta_event("cmd-1", "Hi", "", out);
    EXPECT_FALSE(json::parse(out).contains("logprobs"));
}
