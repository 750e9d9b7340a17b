// SKULK_LOGGING_* / SKULK_LOG_*: defaults, the XDG log dir, and an error
// naming the variable and the value for a bad one.
#include "log/log_settings.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

using skulk::log::LogSettings;
using skulk::log::read_log_settings;

namespace {
struct Env {
    const char *name;
    explicit Env(const char *n, const char *v) : name(n) { ::setenv(n, v, 1); }
    ~Env() { ::unsetenv(name); }
};
} // namespace

TEST(LogSettings, DefaultsAreTheGuidesOnes) {
    Env home("HOME", "/home/op");
    ::unsetenv("SKULK_HOME");
    ::unsetenv("XDG_CACHE_HOME");
    LogSettings s;
    ASSERT_EQ(read_log_settings(s), "");
    EXPECT_FALSE(s.enabled);
    EXPECT_TRUE(s.external);
    EXPECT_TRUE(s.durable);
    EXPECT_EQ(s.rotate_bytes, 100ull << 20);
    EXPECT_EQ(s.keep_archives, 5u);
    EXPECT_EQ(s.dir, "/home/op/.cache/skulk/logs");
    EXPECT_EQ(s.vector_data_dir, "/home/op/.skulk/vector");
    EXPECT_EQ(s.ingest_url, "http://localhost:9428/insert/jsonline?_stream_fields=node_id,component&_msg_field=msg&_time_field=ts");
}

TEST(LogSettings, VariablesOverTheDefaults) {
    Env a("SKULK_LOGGING_ENABLED", "1"), b("SKULK_LOGGING_EXTERNAL", "0"), c("XDG_CACHE_HOME", "/cache"),
        d("SKULK_LOG_ROTATE_BYTES", "2048"), e("SKULK_LOG_KEEP_ARCHIVES", "0"), f("SKULK_VECTOR_DATA_DIR", "/v");
    ::unsetenv("SKULK_HOME");
    LogSettings s;
    ASSERT_EQ(read_log_settings(s), "");
    EXPECT_TRUE(s.enabled);
    EXPECT_FALSE(s.external);
    EXPECT_EQ(s.dir, "/cache/skulk/logs");
    EXPECT_EQ(s.rotate_bytes, 2048u);
    EXPECT_EQ(s.keep_archives, 0u);
    EXPECT_EQ(s.vector_data_dir, "/v");
}

TEST(LogSettings, ABadValueNamesTheVariableAndTheValue) {
    {
        Env a("SKULK_LOGGING_ENABLED", "maybe");
        LogSettings s;
        EXPECT_EQ(read_log_settings(s), "skulk-host: SKULK_LOGGING_ENABLED must be 1 or 0, got \"maybe\"");
    }
    {
        Env a("SKULK_LOG_ROTATE_BYTES", "100");
        LogSettings s;
        EXPECT_EQ(read_log_settings(s), "skulk-host: SKULK_LOG_ROTATE_BYTES must be a byte count of at least 1024, got \"100\"");
    }
    {
        Env a("SKULK_LOG_QUEUE_LINES", "-5");
        LogSettings s;
        EXPECT_NE(read_log_settings(s).find("SKULK_LOG_QUEUE_LINES"), std::string::npos);
    }
}
