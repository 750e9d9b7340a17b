// The structured line: every field, RFC 3339 UTC time, valid JSON for any bytes.
#include "log/json_formatter.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

#include <regex>

using skulk::log::JsonFields;
using skulk::log::JsonFormatter;

namespace {
nlohmann::json format(JsonFormatter &f, const spdlog::details::log_msg &msg) {
    spdlog::memory_buf_t buf;
    f.format(msg, buf);
    std::string line(buf.data(), buf.size());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per record";
    return nlohmann::json::parse(line);
}
} // namespace

TEST(JsonFormatter, CarriesEveryFieldWithTheSourceLocationWhenGiven) {
    auto fields = std::make_shared<JsonFields>();
    fields->set_node_id("node-1");
    JsonFormatter f(fields);
    spdlog::details::log_msg msg(spdlog::source_loc{"/src/host/worker/worker.cpp", 142, "spawn"}, "worker",
                                 spdlog::level::warn, "spawned runner");
    const auto j = format(f, msg);
    for (const char *k : {"ts", "level", "node_id", "component", "module", "function", "line", "msg"})
        EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << j["ts"];
    EXPECT_EQ(j["level"], "WARNING");
    EXPECT_EQ(j["node_id"], "node-1");
    EXPECT_EQ(j["component"], "worker");
    EXPECT_EQ(j["module"], "skulk.worker.worker");
    EXPECT_EQ(j["function"], "spawn");
    EXPECT_EQ(j["line"], 142);
    EXPECT_EQ(j["msg"], "spawned runner");
}

TEST(JsonFormatter, WithoutASourceLocationFunctionAndLineAreNull) {
    JsonFormatter f(std::make_shared<JsonFields>());
    spdlog::details::log_msg msg("api", spdlog::level::info, "listening");
    const auto j = format(f, msg);
    EXPECT_EQ(j["module"], "skulk.api");
    EXPECT_TRUE(j["function"].is_null());
    EXPECT_TRUE(j["line"].is_null());
    EXPECT_FALSE(j["node_id"].get<std::string>().empty()) << "the host name before the node id is known";
}

TEST(JsonFormatter, BytesThatAreNotUtf8AndNewlinesStillMakeOneValidLine) {
    JsonFormatter f(std::make_shared<JsonFields>());
    spdlog::details::log_msg msg("api", spdlog::level::err, "bad \xff\xfe bytes\nsecond line \"quoted\"");
    const auto j = format(f, msg);
    EXPECT_NE(j["msg"].get<std::string>().find("second line \"quoted\""), std::string::npos);
}

TEST(JsonFormatter, ProcessAndMessageFieldsAreAdded) {
    auto fields = std::make_shared<JsonFields>();
    fields->set("instance_id", "inst-1");
    JsonFormatter f(fields);
    skulk::log::thread_message_fields() = {{"runner_id", "runner-inst-1-r0"}};
    spdlog::details::log_msg msg("runner", spdlog::level::info, "serving");
    const auto j = format(f, msg);
    skulk::log::thread_message_fields().clear();
    EXPECT_EQ(j["instance_id"], "inst-1");
    EXPECT_EQ(j["runner_id"], "runner-inst-1-r0");
}
