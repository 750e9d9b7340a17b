// The plugin registry against real shared objects: the broken fixtures of
// tests/abi/fixtures (each refused with its reason, crashing ones probed in a
// child so this process survives), the good C++ fixtures and the C example.
#include "log/logging.hpp"
#include "plugin/registry.hpp"

#include <skulk/plugin.hpp>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;
using skulk::plugin::PluginRecord;
using skulk::plugin::Registry;

namespace {

// <build>/fixtures/plugins: from SKULK_BUILD_DIR, else from where this test
// binary lives (<build>/bin/abi_registry_test).
fs::path fixture_dir() {
    const char *build = std::getenv("SKULK_BUILD_DIR");
    const fs::path root = build && *build ? fs::path(build) : fs::canonical("/proc/self/exe").parent_path().parent_path();
    return root / "fixtures" / "plugins";
}

fs::path fixture(const std::string &name) { return fixture_dir() / ("lib" + name + ".so"); }

// A fresh directory holding links to some fixtures, removed afterwards.
struct TempPluginDir {
    fs::path path;
    explicit TempPluginDir(std::initializer_list<std::string> names) {
        char tmpl[] = "/tmp/skulk-abi-XXXXXX";
        path = ::mkdtemp(tmpl);
        for (const auto &n : names) fs::create_symlink(fixture(n), path / fixture(n).filename());
    }
    ~TempPluginDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

const PluginRecord *find(const Registry &r, const std::string &file) {
    for (const auto &rec : r.records())
        if (rec.path.filename() == file) return &rec;
    return nullptr;
}

// dlopen(RTLD_NOLOAD) answers whether the object is mapped, without loading it.
bool is_mapped(const fs::path &path) {
    void *h = ::dlopen(fs::canonical(path).c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h) ::dlclose(h);
    return h != nullptr;
}

skulk_batch batch_of(const std::vector<int32_t> &tokens, const std::vector<uint32_t> &seq) {
    skulk_batch b{};
    b.size = sizeof b;
    b.n_tokens = uint32_t(tokens.size());
    b.token = tokens.data();
    b.seq_id = seq.data();
    return b;
}

} // namespace

TEST(abi_fixtures, every_fixture_is_built) {
    for (const char *n : {"fixture_no_entry", "fixture_wrong_major", "fixture_crash_score", "fixture_good", "example_echo"})
        EXPECT_TRUE(fs::exists(fixture(n))) << fixture(n);
}

TEST(abi_fixtures, each_broken_fixture_is_refused_with_its_reason) {
    Registry registry({fixture_dir()});
    registry.set_probe_timeout(std::chrono::milliseconds(3000)); // generous: ctest -j2 on a busy machine
    registry.scan();

    const std::string short_size = std::to_string(offsetof(skulk_compute_v1, forward));
    const std::map<std::string, std::string> expected = {
        {"libfixture_no_entry.so", "no entry symbol skulk_plugin_negotiate"},
        {"libfixture_wrong_major.so", "implements ABI major 2, but this host accepts majors 1..1"},
        {"libfixture_newer_minor.so", "needs ABI minor 1.6, but this host implements 1.1"},
        {"libfixture_version_status.so", "skulk_plugin_negotiate returned SKULK_E_VERSION (7)"},
        {"libfixture_unknown_kind.so", "unknown plugin kind 9"},
        {"libfixture_empty_name.so", "empty plugin name"},
        {"libfixture_null_vtable.so", "NULL vtable for a compute plugin"},
        {"libfixture_short_vtable.so", "compute vtable size " + short_size + " is smaller than"},
        {"libfixture_null_slot.so", "compute vtable slot forward is NULL"},
        {"libfixture_score_zero.so", "score() is 0: cannot run on this machine"},
        {"libfixture_throws.so", "threw a C++ exception (fixture: thrown from the entry point)"},
        {"libfixture_crash_score.so", "crashed in score (signal 11"},
        {"libfixture_crash_negotiate.so", "crashed in negotiate (signal 6"},
        {"libfixture_bad_tags.so", "backend_tags() is not valid JSON"},
        {"libfixture_hangs.so", "timed out in negotiate after 3000 ms"},
        {"libfixture_crash_proc_address.so", "crashed in get_proc_address (signal 11"},
        {"libfixture_proc_address_answers_all.so", "returned a function: an unknown name must answer NULL"},
        {"libfixture_proc_address_throws.so",
         "get_proc_address() threw a C++ exception (fixture: thrown from get_proc_address)"},
    };
    for (const auto &[file, reason] : expected) {
        SCOPED_TRACE(file);
        const PluginRecord *rec = find(registry, file);
        ASSERT_NE(rec, nullptr) << "fixture not found by the scan";
        EXPECT_FALSE(rec->usable);
        EXPECT_NE(rec->refused_reason.find(reason), std::string::npos) << "reason was: " << rec->refused_reason;
    }
    for (const char *good : {"libfixture_good.so", "libfixture_good_fast.so", "libfixture_minor0.so", "libexample_echo.so"}) {
        const PluginRecord *rec = find(registry, good);
        ASSERT_NE(rec, nullptr) << good;
        EXPECT_TRUE(rec->usable) << good << ": " << rec->refused_reason;
    }
    // What the refused ones told before failing is kept for the listing.
    EXPECT_EQ(find(registry, "libfixture_wrong_major.so")->abi_major, 2u);
    EXPECT_EQ(find(registry, "libfixture_score_zero.so")->name, "fixture_score_zero");
    EXPECT_EQ(registry.records().size(), expected.size() + 4);
}

TEST(abi_fixtures, registry_survives_crashing_plugins_and_loads_the_good_one) {
    TempPluginDir dir{"fixture_crash_score", "fixture_crash_negotiate", "fixture_throws", "fixture_good"};
    Registry registry({dir.path});
    registry.scan();
    ASSERT_EQ(registry.records().size(), 4u);
    // Crashing plugins were never mapped into this process.
    EXPECT_FALSE(is_mapped(fixture("fixture_crash_score")));
    EXPECT_FALSE(is_mapped(fixture("fixture_crash_negotiate")));
    auto good = registry.best(SKULK_KIND_COMPUTE);
    ASSERT_TRUE(good);
    EXPECT_EQ(good->record().name, "fixture_good");
    EXPECT_EQ(good->record().version, "1.2.3");
    EXPECT_EQ(good->record().score, 5);
    EXPECT_EQ(good->record().backend_tags, std::vector<std::string>{"fixture-cpu"});
    ASSERT_NE(good->compute(), nullptr);
    EXPECT_EQ(good->served(), nullptr);
    EXPECT_EQ(good->adapter(), nullptr);
}

TEST(plugin_registry, extensions_are_found_by_name_and_absent_ones_are_null) {
    TempPluginDir dir{"fixture_good", "fixture_minor0"};
    Registry registry({dir.path});
    registry.scan();
    auto good = registry.best(SKULK_KIND_COMPUTE, {"fixture-cpu"});
    ASSERT_TRUE(good);
    EXPECT_EQ(good->record().abi_minor, 1u);
    using AnswerFn = int32_t (*)(int32_t);
    auto answer = reinterpret_cast<AnswerFn>(good->proc("fixture_good.answer"));
    ASSERT_NE(answer, nullptr);
    EXPECT_EQ(answer(2), 42); // the plugin's own function ran
    EXPECT_EQ(good->proc("fixture_good.no_such_function"), nullptr);
    EXPECT_EQ(good->proc("fixture_minor0.answer"), nullptr); // another plugin's name

    // A 1.0 plugin never wrote get_proc_address: it stays NULL (the host
    // zero-fills the answer), so the plugin loads and has no extensions.
    auto old = registry.best(SKULK_KIND_COMPUTE, {"fixture-old"});
    ASSERT_TRUE(old);
    EXPECT_EQ(old->record().abi_minor, 0u);
    EXPECT_EQ(old->proc("fixture_minor0.answer"), nullptr);
    ASSERT_NE(old->compute(), nullptr);
}

TEST(plugin_registry, a_plugin_writes_nothing_past_an_older_hosts_answer_struct) {
    // A 1.0 host offers a skulk_plugin_info that ends before get_proc_address;
    // a 1.1 plugin (skulk::answer) must not write past it.
    void *h = ::dlopen(fixture("fixture_good").c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << ::dlerror();
    auto negotiate = reinterpret_cast<skulk_plugin_negotiate_fn>(::dlsym(h, SKULK_PLUGIN_ENTRY_SYMBOL));
    ASSERT_NE(negotiate, nullptr);
    constexpr size_t kOldSize = offsetof(skulk_plugin_info, get_proc_address);
    alignas(skulk_plugin_info) unsigned char buf[sizeof(skulk_plugin_info) + 16];
    std::memset(buf, 0xAB, sizeof buf);
    skulk_plugin_info *info = reinterpret_cast<skulk_plugin_info *>(buf);
    std::memset(buf, 0, kOldSize);
    info->size = uint32_t(kOldSize);
    skulk_host_api api{};
    api.size = sizeof api;
    EXPECT_EQ(negotiate(&api, 1, 1, info), SKULK_OK);
    EXPECT_EQ(info->size, kOldSize);
    EXPECT_EQ(skulk::view(info->name), "fixture_good");
    for (size_t i = kOldSize; i < sizeof buf; ++i) ASSERT_EQ(buf[i], 0xAB) << "byte " << i << " was written";
    if (info->shutdown) info->shutdown();
    ::dlclose(h);
}

TEST(plugin_registry, best_prefers_tag_order_then_score) {
    TempPluginDir dir{"fixture_good", "fixture_good_fast", "example_echo", "fixture_score_zero"};
    Registry registry({dir.path});
    registry.scan();
    auto name_of = [](const std::shared_ptr<const skulk::plugin::LoadedPlugin> &p) {
        return p ? p->record().name : std::string("(none)");
    };
    EXPECT_EQ(name_of(registry.best(SKULK_KIND_COMPUTE)), "fixture_good_fast"); // score 9 > 5
    EXPECT_EQ(name_of(registry.best(SKULK_KIND_COMPUTE, {"fixture-cpu"})), "fixture_good");
    EXPECT_EQ(name_of(registry.best(SKULK_KIND_COMPUTE, {"no-such", "fixture-cpu", "fixture-gpu"})), "fixture_good");
    EXPECT_EQ(name_of(registry.best(SKULK_KIND_COMPUTE, {"no-such"})), "(none)");
    EXPECT_EQ(name_of(registry.best(SKULK_KIND_SERVED)), "(none)");
    EXPECT_EQ(name_of(registry.best(SKULK_KIND_ADAPTER)), "example_echo");
    EXPECT_EQ(registry.all(SKULK_KIND_COMPUTE).size(), 2u); // score 0 is not usable
    EXPECT_EQ(registry.backend_tags(), (std::vector<std::string>{"fixture-cpu", "fixture-gpu"}));
}

TEST(plugin_registry, library_stays_loaded_while_an_instance_lives_and_shutdown_runs_once) {
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    skulk::log::get("plugin:fixture_good")->sinks().push_back(sink);
    auto shutdown_lines = [&] {
        std::vector<std::string> out;
        for (const auto &line : sink->last_formatted())
            if (line.find("shutdown:") != std::string::npos) out.push_back(line);
        return out;
    };

    TempPluginDir dir{"fixture_good"};
    auto registry = std::make_unique<Registry>(std::vector<fs::path>{dir.path});
    registry->scan();
    auto plugin = registry->best(SKULK_KIND_COMPUTE);
    ASSERT_TRUE(plugin);
    const skulk_compute_v1 *vt = plugin->compute();
    skulk_compute_instance *instance = nullptr;
    skulk::string_sink err;
    ASSERT_EQ(vt->create(nullptr, 0, 3, SKULK_RANGE_EMBED, nullptr, 0, nullptr, &instance, err.get()), SKULK_OK)
        << err.text;

    registry.reset(); // the registry goes; our handle keeps the library
    EXPECT_TRUE(is_mapped(fixture("fixture_good")));
    EXPECT_TRUE(shutdown_lines().empty());
    std::vector<int32_t> tokens{1, 2, 21};
    std::vector<uint32_t> seqs{0, 0, 0};
    auto b = batch_of(tokens, seqs);
    std::vector<float> out(3);
    ASSERT_EQ(vt->forward(instance, &b, out.data(), out.size()), SKULK_OK); // code still mapped
    EXPECT_EQ(out, (std::vector<float>{2.f, 4.f, 42.f}));
    vt->destroy(instance);

    plugin.reset(); // last handle: shutdown() once, then unload
    const auto lines = shutdown_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("shutdown: 0 live"), std::string::npos) << lines[0]; // after the instance was destroyed
    EXPECT_FALSE(is_mapped(fixture("fixture_good")));
}

TEST(plugin_registry, cancelled_hook_reaches_plugins) {
    TempPluginDir dir{"fixture_good"};
    Registry registry({dir.path});
    registry.scan();
    registry.set_cancelled([](uint64_t request_id) { return request_id == 7; });
    auto plugin = registry.best(SKULK_KIND_COMPUTE);
    ASSERT_TRUE(plugin);
    const skulk_compute_v1 *vt = plugin->compute();
    skulk_compute_instance *instance = nullptr;
    ASSERT_EQ(vt->create(nullptr, 0, 0, 0, nullptr, 0, nullptr, &instance, nullptr), SKULK_OK);
    std::vector<int32_t> tokens{5};
    std::vector<float> out(1);
    std::vector<uint32_t> live{3}, cancelled{7};
    auto b1 = batch_of(tokens, live);
    EXPECT_EQ(vt->forward(instance, &b1, out.data(), 1), SKULK_OK);
    auto b2 = batch_of(tokens, cancelled);
    EXPECT_EQ(vt->forward(instance, &b2, out.data(), 1), SKULK_E_CANCELLED);
    vt->destroy(instance);
}

TEST(plugin_registry, c_example_adapter_decodes_and_encodes) {
    TempPluginDir dir{"example_echo"};
    Registry registry({dir.path});
    registry.scan();
    auto plugin = registry.best(SKULK_KIND_ADAPTER);
    ASSERT_TRUE(plugin);
    EXPECT_EQ(plugin->record().name, "example_echo");
    EXPECT_TRUE(plugin->record().backend_tags.empty());
    const skulk_adapter_v1 *a = plugin->adapter();
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(skulk::view(a->routes_json), R"([{"method":"POST","path":"/v1/echo"}])");

    skulk::string_sink canonical, err;
    const std::string body = R"({"messages":[]})";
    EXPECT_EQ(a->decode(skulk::to_str("POST"), skulk::to_str("/v1/echo"), skulk::to_str(body), canonical.get(), err.get()),
              SKULK_OK);
    EXPECT_EQ(canonical.text, body);
    skulk::string_sink canonical2, err2;
    EXPECT_EQ(a->decode(skulk::to_str("POST"), skulk::to_str("/v1/echo"), skulk::to_str(""), canonical2.get(), err2.get()),
              SKULK_E_INVALID);
    EXPECT_EQ(err2.text, "POST /v1/echo needs a JSON body");

    skulk_adapter_state *state = nullptr;
    skulk::string_sink wire;
    EXPECT_EQ(a->encode(&state, skulk::to_str(R"({"delta":"hi"})"), wire.get()), SKULK_OK);
    EXPECT_EQ(wire.text, "{\"delta\":\"hi\"}\n");
    a->free_state(state);
}

TEST(plugin_registry, duplicate_name_in_a_later_dir_is_refused) {
    TempPluginDir first{"fixture_good"}, second{};
    fs::copy_file(fixture("fixture_good"), second.path / "libcopy_of_good.so");
    Registry registry({first.path, second.path});
    registry.scan();
    ASSERT_EQ(registry.records().size(), 2u);
    EXPECT_TRUE(registry.records()[0].usable);
    EXPECT_FALSE(registry.records()[1].usable);
    EXPECT_NE(registry.records()[1].refused_reason.find("duplicate compute plugin 'fixture_good'"), std::string::npos)
        << registry.records()[1].refused_reason;
}

TEST(plugin_registry, a_file_that_is_not_a_shared_object_is_refused_with_the_dlopen_error) {
    TempPluginDir dir{};
    std::ofstream(dir.path / "libnot_elf.so") << "this is not an ELF file\n";
    Registry registry({dir.path});
    registry.scan();
    ASSERT_EQ(registry.records().size(), 1u);
    EXPECT_FALSE(registry.records()[0].usable);
    EXPECT_NE(registry.records()[0].refused_reason.find("dlopen failed"), std::string::npos)
        << registry.records()[0].refused_reason;
}

TEST(plugin_registry, missing_dirs_and_other_files_are_ignored) {
    TempPluginDir dir{"fixture_good"};
    std::ofstream(dir.path / "README.txt") << "not a plugin\n";
    Registry registry({dir.path / "does-not-exist", dir.path});
    registry.scan();
    ASSERT_EQ(registry.records().size(), 1u);
    EXPECT_TRUE(registry.records()[0].usable);
}

TEST(plugin_registry, default_dirs_are_the_install_lib_dir_then_plugins_next_to_the_binary) {
    Registry registry({});
    ASSERT_EQ(registry.dirs().size(), 2u);
    EXPECT_EQ(registry.dirs()[0].filename(), "plugins");
    EXPECT_EQ(registry.dirs()[0].parent_path().filename(), "skulk");
    EXPECT_EQ(registry.dirs()[0].parent_path().parent_path().filename(), "lib");
    EXPECT_EQ(registry.dirs()[1].parent_path(), fs::canonical("/proc/self/exe").parent_path());
}

TEST(abi_fixtures, docs_show_the_c_example_verbatim) {
    const char *src = std::getenv("SKULK_SOURCE_DIR");
    const fs::path root = src && *src ? fs::path(src) : fs::current_path();
    auto slurp = [](const fs::path &p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string example = slurp(root / "tests/abi/fixtures/example_echo.c");
    const std::string doc = slurp(root / "docs/plugins.md");
    ASSERT_FALSE(example.empty());
    EXPECT_NE(doc.find("```c\n" + example + "```"), std::string::npos)
        << "docs/plugins.md must show tests/abi/fixtures/example_echo.c verbatim";
}
