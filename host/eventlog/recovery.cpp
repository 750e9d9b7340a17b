#include "eventlog/recovery.hpp"

#include "eventlog/record_format.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>

namespace skulk::eventlog {
namespace {

using format::kHeader;

std::string at(const Position &p) { return "term " + std::to_string(p.term) + " idx " + std::to_string(p.idx); }

// One damaged region that intact records follow: what it cost, "" for nothing.
std::string gap_at(const Scan &s, const Region &d, const PositionOf &position_of) {
    if (!s.header_ok && d.offset == 0 && d.bytes == kHeader.size()) return ""; // only the header was hit
    const uint64_t end = d.offset + d.bytes;
    auto next = std::find_if(s.records.begin(), s.records.end(), [&](const ScannedRecord &r) { return r.offset == end; });
    if (next == s.records.end()) return "";
    const std::optional<Position> q = position_of(next->payload);
    if (!q) return "before the record at byte " + std::to_string(end);
    std::optional<Position> p;
    if (next != s.records.begin()) p = position_of(std::prev(next)->payload);
    if (!p) return "before " + at(*q);
    if (p->term == q->term && q->idx == p->idx + 1) return ""; // the indices continue: no event is missing
    if (p->term == q->term && q->idx > p->idx) // else a new session of the same term began after the damage
        return "term " + std::to_string(p->term) + " idx " + std::to_string(p->idx + 1) + ".." + std::to_string(q->idx - 1);
    return "after " + at(*p) + " and before " + at(*q);
}

} // namespace

std::optional<Position> json_position(std::string_view payload) {
    const auto j = nlohmann::json::parse(payload, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    const auto t = j.find("term"), i = j.find("idx");
    if (t == j.end() || i == j.end() || !t->is_number_unsigned() || !i->is_number_integer() || i->get<int64_t>() < 0)
        return std::nullopt;
    return Position{t->get<uint64_t>(), i->get<int64_t>()};
}

bool follows(const Position &a, const Position &b) {
    return b.idx == 0 || b.term > a.term || (b.term == a.term && b.idx > a.idx);
}

uint64_t Scan::dropped_bytes() const {
    uint64_t n = 0;
    for (const auto &d : damaged) n += d.bytes;
    return n;
}

bool Scan::damaged_at_tail(uint64_t file_size) const {
    return !damaged.empty() && damaged.back().offset + damaged.back().bytes == file_size &&
           (records.empty() || records.back().offset < damaged.back().offset);
}

Scan scan(std::string_view bytes, const PositionOf &position_of) {
    Scan s;
    s.header_ok = bytes.substr(0, kHeader.size()) == kHeader;
    std::optional<uint64_t> damage_from;
    bool past_damage = false;
    std::optional<Position> last; // of the last kept record, tracked from the first damage on
    auto open_damage = [&](uint64_t off) {
        if (damage_from) return;
        damage_from = off;
        if (!past_damage && !s.records.empty()) last = position_of(s.records.back().payload);
        past_damage = true;
    };
    size_t off = std::min(bytes.size(), kHeader.size());
    if (!s.header_ok) open_damage(0);
    while (off < bytes.size()) {
        const auto payload = format::record_at(bytes, off);
        bool keep = payload.has_value();
        std::optional<Position> pos;
        if (keep && past_damage) {
            // Past damage a checksum alone proves too little: the record must
            // also name its place, after the last one kept.
            pos = position_of(*payload);
            keep = pos && (!last || follows(*last, *pos));
        }
        if (!keep) {
            open_damage(off);
            ++off; // resynchronise: the next record may start at any byte
            continue;
        }
        if (damage_from) s.damaged.push_back({*damage_from, off - *damage_from});
        damage_from.reset();
        if (pos) last = pos;
        s.records.push_back({off, *payload});
        off += format::kRecordHeader + payload->size();
    }
    if (damage_from) s.damaged.push_back({*damage_from, bytes.size() - *damage_from});
    return s;
}

std::string describe_gap(const Scan &s, uint64_t file_size, const PositionOf &position_of) {
    std::string out;
    for (const auto &d : s.damaged) {
        if (d.offset + d.bytes >= file_size) continue; // a torn tail: no later record depends on it
        const std::string g = gap_at(s, d, position_of);
        if (g.empty()) continue;
        if (!out.empty()) out += "; ";
        out += g;
    }
    return out;
}

std::string rebuild(const Scan &s) {
    std::string out(kHeader);
    for (const auto &r : s.records) format::put_record(out, r.payload);
    return out;
}

} // namespace skulk::eventlog
