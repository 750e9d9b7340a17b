// The openai adapter found and loaded by the host's plugin registry (the
// daemon's path), not just dlopen: probe, negotiate, pick by kind, decode.
#include "plugin/registry.hpp"
#include "skulk/plugin.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

TEST(AdapterOpenaiRegistry, IsTheBestAdapterAndDecodes) {
    std::string tmpl = (fs::temp_directory_path() / "skulk-adapter-reg-XXXXXX").string();
    const fs::path dir = ::mkdtemp(tmpl.data());
    fs::copy_file(SKULK_ADAPTER_OPENAI_PATH, dir / "libadapter_openai.so");
    {
        skulk::plugin::Registry reg({dir});
        reg.scan();
        ASSERT_EQ(reg.records().size(), 1u);
        const auto &rec = reg.records()[0];
        EXPECT_TRUE(rec.usable) << rec.refused_reason;
        EXPECT_EQ(rec.name, "openai");
        EXPECT_EQ(rec.kind, uint32_t(SKULK_KIND_ADAPTER));
        EXPECT_EQ(rec.score, 1);
        const auto best = reg.best(SKULK_KIND_ADAPTER);
        ASSERT_TRUE(best);
        const skulk_adapter_v1 *vt = best->adapter();
        ASSERT_NE(vt, nullptr);
        EXPECT_EQ(best->compute(), nullptr);
        skulk::string_sink out, err;
        const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3})";
        ASSERT_EQ(vt->decode(skulk::to_str("POST"), skulk::to_str("/v1/chat/completions"), skulk::to_str(body), out.get(),
                             err.get()),
                  SKULK_OK)
            << err.text;
        const auto canonical = nlohmann::json::parse(out.text);
        EXPECT_EQ(canonical["max_tokens"], 3);
        EXPECT_EQ(canonical["messages"][0]["content"], "hi");
    }
    fs::remove_all(dir);
}
