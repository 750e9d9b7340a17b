// The pure negotiation checks on hand-built answers: the served and adapter
// paths that the (compute) fixtures do not reach.
#include "plugin/answer_checks.hpp"

#include <gtest/gtest.h>

using namespace skulk::plugin;

namespace {

skulk_status s_create(skulk_str, skulk_served_instance **, skulk_sink *) { return SKULK_OK; }
skulk_status s_chat(skulk_served_instance *, uint64_t, skulk_str, const skulk_stream *) { return SKULK_OK; }
void s_destroy(skulk_served_instance *) {}
skulk_status a_decode(skulk_str, skulk_str, skulk_str, skulk_sink *, skulk_sink *) { return SKULK_OK; }
skulk_status a_encode(skulk_adapter_state **, skulk_str, skulk_sink *) { return SKULK_OK; }
void a_free(skulk_adapter_state *) {}

skulk_str str(const char *s) { return skulk_str{s, std::char_traits<char>::length(s)}; }

skulk_plugin_info answer() {
    skulk_plugin_info info{};
    info.size = sizeof info;
    info.abi_major = 1;
    info.kind = SKULK_KIND_SERVED;
    info.name = str("x");
    return info;
}

} // namespace

TEST(abi_checks, a_well_formed_answer_passes) { EXPECT_EQ(check_answer(answer()), ""); }

TEST(abi_checks, major_zero_and_kind_zero_are_refused) {
    auto a = answer();
    a.abi_major = 0; // a plugin that wrote nothing
    EXPECT_NE(check_answer(a).find("implements ABI major 0"), std::string::npos);
    a = answer();
    a.kind = 0;
    EXPECT_NE(check_answer(a).find("unknown plugin kind 0"), std::string::npos);
}

TEST(abi_checks, served_vtable_needs_create_chat_destroy) {
    skulk_served_v1 vt{sizeof vt, s_create, s_chat, s_destroy};
    EXPECT_EQ(check_vtable(SKULK_KIND_SERVED, &vt), "");
    vt.chat = nullptr;
    EXPECT_EQ(check_vtable(SKULK_KIND_SERVED, &vt), "served vtable slot chat is NULL");
    skulk_served_v1 old{uint32_t(offsetof(skulk_served_v1, destroy)), s_create, s_chat, s_destroy};
    EXPECT_NE(check_vtable(SKULK_KIND_SERVED, &old).find("served vtable size"), std::string::npos);
}

TEST(abi_checks, adapter_routes_must_be_a_json_array_of_method_and_path) {
    skulk_adapter_v1 vt{sizeof vt, str(R"([{"method":"POST","path":"/v1/x"}])"), a_decode, a_encode, a_free};
    EXPECT_EQ(check_vtable(SKULK_KIND_ADAPTER, &vt), "");
    vt.routes_json = str("[]");
    EXPECT_NE(check_vtable(SKULK_KIND_ADAPTER, &vt).find("not a non-empty JSON array"), std::string::npos);
    vt.routes_json = str(R"([{"method":"POST"}])");
    EXPECT_NE(check_vtable(SKULK_KIND_ADAPTER, &vt).find("is not {\"method\":string,\"path\":string}"),
              std::string::npos);
    vt.routes_json = skulk_str{nullptr, 0};
    EXPECT_NE(check_vtable(SKULK_KIND_ADAPTER, &vt), "");
    vt.routes_json = str(R"([{"method":"POST","path":"/v1/x"}])");
    vt.free_state = nullptr;
    EXPECT_EQ(check_vtable(SKULK_KIND_ADAPTER, &vt), "adapter vtable slot free_state is NULL");
}

TEST(abi_checks, backend_tags_must_be_non_empty_strings) {
    std::vector<std::string> tags;
    EXPECT_EQ(parse_backend_tags(R"(["cpu_blas-cpu","vulkan-cpu"])", tags), "");
    EXPECT_EQ(tags, (std::vector<std::string>{"cpu_blas-cpu", "vulkan-cpu"}));
    EXPECT_EQ(parse_backend_tags("[]", tags), "");
    EXPECT_TRUE(tags.empty());
    EXPECT_NE(parse_backend_tags(R"({"a":1})", tags).find("not a JSON array"), std::string::npos);
    EXPECT_NE(parse_backend_tags(R"(["ok", 3])", tags).find("element 3"), std::string::npos);
    EXPECT_NE(parse_backend_tags(R"([""])", tags).find("non-empty"), std::string::npos);
}

TEST(abi_checks, status_names_are_the_frozen_numbers) {
    EXPECT_EQ(status_name(SKULK_E_VERSION), "SKULK_E_VERSION (7)");
    EXPECT_EQ(status_name(SKULK_E_INTERNAL), "SKULK_E_INTERNAL (6)");
    EXPECT_EQ(status_name(42), "status 42");
}
