// Reading a damaged event log file without losing what is intact.
//
// scan() walks a file's bytes: records that check out (length in bounds,
// CRC-32 of the payload matches) are kept; at a record that does not, it
// resynchronises by sliding forward one byte at a time to the next offset
// where a record checks out. Past the first damage a record must also prove
// it belongs: its payload names its position (term, idx) and that position
// follows the last kept record's. A frame that passes its CRC by chance
// inside garbage, or a stale record out of order, stays with the damage.
//
// describe_gap() says what the damage cost: nothing (only the 8-byte file
// header was hit, or the indices on both sides still continue), a torn tail
// (damage up to the end of the file: the power-loss case), or a gap in the
// middle, with the missing range when both sides are in the same term.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skulk::eventlog {

// Where a record sits in the replicated sequence: the event's term and its
// index in that term (dense from 0, event 0 of each term starts a session).
struct Position {
    uint64_t term = 0;
    int64_t idx = 0;
};
using PositionOf = std::function<std::optional<Position>(std::string_view payload)>;

// The default PositionOf: the payload's "term" and "idx" (the event wire JSON).
std::optional<Position> json_position(std::string_view payload);

// b may come after a in a log: the next index, a forward jump in the same
// term (a follower installing a snapshot), a newer term, or a new session
// (idx 0: a restarted node starts its terms afresh).
bool follows(const Position &a, const Position &b);

struct Region {
    uint64_t offset = 0;
    uint64_t bytes = 0;
};

struct ScannedRecord {
    uint64_t offset = 0;          // of the record's 8-byte header
    std::string_view payload;
};

struct Scan {
    bool header_ok = false;
    std::vector<ScannedRecord> records; // kept, in file order
    std::vector<Region> damaged;        // in file order, disjoint from the records
    uint64_t dropped_bytes() const;
    bool damaged_at_tail(uint64_t file_size) const;
};

Scan scan(std::string_view bytes, const PositionOf &position_of);

// "" when the damage lost no record a later one depends on (header only, a
// torn tail, or indices that still continue); else the missing range, e.g.
// "term 3 idx 17..19" or "after term 2 idx 40 and before term 3 idx 0".
std::string describe_gap(const Scan &s, uint64_t file_size, const PositionOf &position_of);

// The clean file: the header and the kept records, byte for byte.
std::string rebuild(const Scan &s);

} // namespace skulk::eventlog
