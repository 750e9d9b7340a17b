// skulk/plugin.hpp: header-only C++ helpers for plugin authors.
//
// The ABI itself is skulk/abi.h (pure C). This header only makes the C++
// side safe and short: the export macro, an exception barrier so nothing
// throws across the boundary, sink/str conversions, and RAII owners for
// what a plugin hands out.
#pragma once

#include "skulk/abi.h"

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>

// Put this on the single exported entry point, skulk_plugin_negotiate.
#define SKULK_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

namespace skulk {

inline skulk_str to_str(std::string_view s) { return skulk_str{s.data(), s.size()}; }
inline std::string_view view(skulk_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view(); }

// Appends text to a host sink; false when the host asked to stop.
inline bool write(skulk_sink *sink, std::string_view text) {
    if (!sink || !sink->write) return true;
    return sink->write(sink->ctx, text.data(), text.size()) == 0;
}

// Thrown inside a plugin to return a specific status with a message.
struct status_error : std::exception {
    skulk_status status;
    std::string message;
    status_error(skulk_status st, std::string msg) : status(st), message(std::move(msg)) {}
    const char *what() const noexcept override { return message.c_str(); }
};

// The exception barrier: runs fn, turns every exception into a status and
// writes its message to `error` (which may be NULL).
template <class Fn>
skulk_status guard(skulk_sink *error, Fn &&fn) noexcept {
    try {
        fn();
        return SKULK_OK;
    } catch (const status_error &e) {
        write(error, e.message);
        return e.status;
    } catch (const std::bad_alloc &) {
        write(error, "out of memory");
        return SKULK_E_NOMEM;
    } catch (const std::exception &e) {
        write(error, e.what());
        return SKULK_E_INTERNAL;
    } catch (...) {
        write(error, "unknown exception");
        return SKULK_E_INTERNAL;
    }
}

// Fills the common part of the negotiation answer. Returns SKULK_E_VERSION
// when the host's offer does not include this header's major.
inline skulk_status answer(uint32_t host_major_min, uint32_t host_major_max, skulk_plugin_info *out,
                           const skulk_plugin_info &mine) noexcept {
    if (!out || out->size < sizeof(uint32_t)) return SKULK_E_INVALID;
    if (SKULK_ABI_MAJOR < host_major_min || SKULK_ABI_MAJOR > host_major_max) return SKULK_E_VERSION;
    const uint32_t host_size = out->size;
    std::memcpy(out, &mine, host_size < sizeof mine ? host_size : sizeof mine);
    out->size = host_size;
    return SKULK_OK;
}

// A plugin's own object behind an opaque handle of abi.h, and back. The
// handle types are never defined, so only these casts connect the two.
template <class T, class Handle>
T *from_handle(Handle *handle) noexcept {
    return reinterpret_cast<T *>(handle);
}
template <class Handle, class T>
Handle *to_handle(T *object) noexcept {
    return reinterpret_cast<Handle *>(object);
}

// RAII owner of a plugin-made instance, released through the plugin's slot.
template <class Handle, class Destroy = void (*)(Handle *)>
class instance_ptr {
public:
    instance_ptr() = default;
    instance_ptr(Handle *p, Destroy d) : p_(p), d_(d) {}
    instance_ptr(instance_ptr &&o) noexcept : p_(o.p_), d_(o.d_) { o.p_ = nullptr; }
    instance_ptr &operator=(instance_ptr &&o) noexcept {
        if (this != &o) { reset(); p_ = o.p_; d_ = o.d_; o.p_ = nullptr; }
        return *this;
    }
    ~instance_ptr() { reset(); }
    void reset() { if (p_ && d_) d_(p_); p_ = nullptr; }
    Handle *get() const { return p_; }
    explicit operator bool() const { return p_ != nullptr; }

private:
    Handle *p_ = nullptr;
    Destroy d_{};
};

// A sink that appends into a std::string (host side and tests).
struct string_sink {
    string_sink() = default;
    string_sink(const string_sink &) = delete; // `sink.ctx` points at this object
    string_sink &operator=(const string_sink &) = delete;
    std::string text;
    skulk_sink sink{this, [](void *ctx, const void *p, size_t n) {
                         static_cast<string_sink *>(ctx)->text.append(static_cast<const char *>(p), n);
                         return 0;
                     }};
    skulk_sink *get() { return &sink; }
};

} // namespace skulk
