#include "plugin/library.hpp"

#include "plugin/answer_checks.hpp"

#include <boost/dll/shared_library_load_mode.hpp>

#include <exception>

namespace skulk::plugin {
namespace {

std::string what_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception &x) {
        return x.what();
    } catch (...) {
        return "a non-std exception";
    }
}

std::string view_str(skulk_str s) { return s.ptr ? std::string(s.ptr, s.len) : std::string(); }

// get_proc_address must answer NULL for a name no plugin defines: that NULL
// is the only way a host can tell an extension is absent. Asking once here,
// inside the probe child, also turns a get_proc_address that crashes into a
// refusal instead of a dead daemon later.
constexpr const char *kAbsentProc = "skulk.probe.no-such-extension";

std::string check_proc_address(const skulk_plugin_info &info) {
    if (!info.get_proc_address) return {};
    skulk_proc found = nullptr;
    try {
        found = info.get_proc_address(kAbsentProc);
    } catch (...) {
        return "get_proc_address() threw a C++ exception (" + what_of(std::current_exception()) + ")";
    }
    if (found)
        return std::string("get_proc_address(\"") + kAbsentProc +
               "\") returned a function: an unknown name must answer NULL";
    return {};
}

} // namespace

std::shared_ptr<Library> Library::open(const std::filesystem::path &path, std::shared_ptr<HostServices> services,
                                       PluginRecord &record, const StageFn &stage, int probe_fd) {
    auto announce = [&](const char *s) {
        if (stage) stage(s);
    };
    record.path = path;
    std::shared_ptr<Library> lib(new Library());
    auto refuse = [&](std::string reason) -> std::shared_ptr<Library> {
        record.usable = false;
        record.refused_reason = std::move(reason);
        // A probe child reports and _exit()s; running the plugin's shutdown()
        // and dlclose() there would only add a place to crash after the verdict.
        if (probe_fd >= 0) static_cast<void>(new std::shared_ptr<Library>(lib));
        return nullptr;
    };
    lib->host_ = std::make_unique<HostContext>(std::move(services), path.stem().string(), probe_fd);

    announce("load");
    namespace mode = boost::dll::load_mode;
    try {
        // The throwing overload: its message carries dlerror()'s text.
        lib->lib_.load(boost::dll::fs::path(path.string()), mode::rtld_local | mode::rtld_now);
    } catch (const std::exception &e) {
        return refuse(std::string("dlopen failed: ") + e.what());
    }
    if (!lib->lib_.is_loaded()) return refuse("dlopen failed");
    if (!lib->lib_.has(SKULK_PLUGIN_ENTRY_SYMBOL))
        return refuse("no entry symbol " SKULK_PLUGIN_ENTRY_SYMBOL " (not a skulk plugin, or not exported)");
    auto negotiate = lib->lib_.get<std::remove_pointer_t<skulk_plugin_negotiate_fn>>(SKULK_PLUGIN_ENTRY_SYMBOL);

    announce("negotiate");
    skulk_plugin_info &info = lib->info_;
    info = skulk_plugin_info{};
    info.size = sizeof info;
    skulk_status st;
    try {
        st = negotiate(lib->host_->api(), kHostMajorMin, kHostMajorMax, &info);
    } catch (...) {
        return refuse("entry point " SKULK_PLUGIN_ENTRY_SYMBOL " threw a C++ exception (" +
                      what_of(std::current_exception()) + "); exceptions must not cross the ABI");
    }
    // From here on the plugin may hold state: shutdown() runs when `lib`
    // goes. Not for a major we do not speak: its struct layout (and so the
    // `shutdown` field) cannot be trusted.
    lib->negotiated_ = st == SKULK_OK && info.abi_major >= kHostMajorMin && info.abi_major <= kHostMajorMax;
    record.kind = info.kind;
    record.name = view_str(info.name);
    record.version = view_str(info.version);
    record.abi_major = info.abi_major;
    record.abi_minor = info.abi_minor;
    if (st != SKULK_OK) {
        std::string reason = SKULK_PLUGIN_ENTRY_SYMBOL " returned " + status_name(st);
        if (st == SKULK_E_VERSION)
            reason += " (no ABI major both accept; host offers " + std::to_string(kHostMajorMin) + ".." +
                      std::to_string(kHostMajorMax) + ")";
        return refuse(reason);
    }
    if (auto why = check_answer(info); !why.empty()) return refuse(why);
    lib->host_->set_name(record.name);
    if (auto why = check_vtable(info.kind, info.vtable); !why.empty()) return refuse(why);

    announce("score");
    if (!info.score) return refuse("score() is NULL");
    try {
        record.score = info.score();
    } catch (...) {
        return refuse("score() threw a C++ exception (" + what_of(std::current_exception()) + ")");
    }
    if (record.score == 0) return refuse("score() is 0: cannot run on this machine");
    if (record.score < 0) return refuse("score() returned " + std::to_string(record.score) + " (must be >= 0)");

    announce("backend_tags");
    if (info.backend_tags) {
        std::string json;
        try {
            json = view_str(info.backend_tags());
        } catch (...) {
            return refuse("backend_tags() threw a C++ exception (" + what_of(std::current_exception()) + ")");
        }
        if (auto why = parse_backend_tags(json, record.backend_tags); !why.empty()) return refuse(why);
    }

    announce("get_proc_address");
    if (auto why = check_proc_address(info); !why.empty()) return refuse(why);
    record.usable = true;
    record.refused_reason.clear();
    return lib;
}

skulk_proc Library::proc(const std::string &name) const {
    if (!info_.get_proc_address) return nullptr;
    try {
        return info_.get_proc_address(name.c_str());
    } catch (...) { // the probe saw it behave; a throw now still must not cross
        host_->log(SKULK_LOG_ERROR, "get_proc_address(\"" + name + "\") threw a C++ exception: " +
                                        what_of(std::current_exception()));
        return nullptr;
    }
}

Library::~Library() {
    if (negotiated_ && info_.shutdown) {
        try {
            info_.shutdown();
        } catch (...) {
            host_->log(SKULK_LOG_ERROR, "shutdown() threw a C++ exception: " + what_of(std::current_exception()));
        }
    }
}

} // namespace skulk::plugin
