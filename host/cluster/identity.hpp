// A node's lasting identity: a CURVE key pair kept in <data-dir>/identity/
// (created on first start) and the node id derived from its public key, so
// a restarted node is the same member, not a new one leaving a ghost behind.
#pragma once

#include "common/curve.hpp"

#include <filesystem>
#include <string>

namespace skulk::cluster {

struct NodeIdentity {
    std::string node_id; // UUID layout, derived from keys.public_z85
    CurveKeys keys;      // the node's own pair (its CURVE client key on an open cluster)
    bool created = false; // true: made now (first start with this data dir)
};

// The id that belongs to a public key: BLAKE2b of the Z85 text laid out as
// 8-4-4-4-12 hex digits (version nibble 8: "custom"), so ids look like the
// UUIDs of before yet follow from the key.
std::string node_id_for_key(const std::string &public_z85);

// Reads <dir>/node.key (two lines: public and secret key in Z85) or, when
// absent, creates <dir> (0700) and the file (0600) with a fresh pair from
// zmq_curve_keypair. Throws std::runtime_error naming the file on a
// malformed file or a file others can read, or when it cannot be written.
NodeIdentity load_or_create_identity(const std::filesystem::path &dir);

} // namespace skulk::cluster
