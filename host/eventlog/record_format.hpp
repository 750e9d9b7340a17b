// The bytes of an event log file (docs/architecture.md, "Event log"): the
// 8-byte header "SKEVLOG1", then records [u32 LE payload length][u32 LE
// CRC-32 (zlib) of the payload][payload]. Shared by the writer and recovery.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace skulk::eventlog::format {

constexpr std::string_view kHeader = "SKEVLOG1";
constexpr size_t kRecordHeader = 8;

inline uint32_t crc(std::string_view p) {
    return uint32_t(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef *>(p.data()), uInt(p.size())));
}
inline void put_u32(std::string &out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
inline uint32_t get_u32(const char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(p[i])) << (8 * i);
    return v;
}
inline void put_record(std::string &out, std::string_view payload) {
    put_u32(out, uint32_t(payload.size()));
    put_u32(out, crc(payload));
    out.append(payload);
}
// The payload of the record at `off` when its length is in bounds and its
// checksum matches; nullopt otherwise.
inline std::optional<std::string_view> record_at(std::string_view bytes, size_t off) {
    if (off > bytes.size() || bytes.size() - off < kRecordHeader) return std::nullopt;
    const uint32_t len = get_u32(bytes.data() + off);
    if (len > bytes.size() - off - kRecordHeader) return std::nullopt;
    const std::string_view payload = bytes.substr(off + kRecordHeader, len);
    if (crc(payload) != get_u32(bytes.data() + off + 4)) return std::nullopt;
    return payload;
}

} // namespace skulk::eventlog::format
