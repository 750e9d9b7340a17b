#include "cluster/identity.hpp"

#include <sodium.h>
#include <zmq.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace skulk::cluster {
namespace {

namespace fs = std::filesystem;

std::runtime_error identity_error(const fs::path &file, const std::string &why) {
    return std::runtime_error("node identity " + file.string() + ": " + why);
}

bool is_z85_key(const std::string &s) {
    if (s.size() != 40) return false;
    unsigned char raw[32];
    return zmq_z85_decode(raw, s.c_str()) != nullptr;
}

NodeIdentity read_identity(const fs::path &file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) throw identity_error(file, "cannot stat");
    // The secret key is the node's credential: refuse one others could read.
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        throw identity_error(file, "readable by group or others (mode " + std::to_string(st.st_mode & 0777) +
                                       "); chmod 600 it");
    std::ifstream in(file);
    std::string pub, sec;
    if (!std::getline(in, pub) || !std::getline(in, sec) || !is_z85_key(pub) || !is_z85_key(sec))
        throw identity_error(file, "expected two lines, the public and the secret key (40 Z85 characters each)");
    char derived[41] = {0};
    if (zmq_curve_public(derived, sec.c_str()) != 0 || pub != derived)
        throw identity_error(file, "the public key does not belong to the secret key");
    return NodeIdentity{node_id_for_key(pub), CurveKeys{pub, sec}, false};
}

NodeIdentity create_identity(const fs::path &dir, const fs::path &file) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw identity_error(dir, "cannot create: " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    char pub[41] = {0}, sec[41] = {0};
    if (zmq_curve_keypair(pub, sec) != 0) throw identity_error(file, "zmq_curve_keypair failed (no CURVE in this libzmq?)");
    // Written to a temp file (0600 from the first byte) and renamed, so a
    // crash never leaves half a key that would block the next start.
    const fs::path tmp = file.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw identity_error(tmp, "cannot create");
    const std::string text = std::string(pub) + "\n" + sec + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    sodium_memzero(sec, sizeof sec);
    if (!ok) throw identity_error(tmp, "cannot write");
    fs::rename(tmp, file, ec);
    if (ec) throw identity_error(file, "cannot rename " + tmp.string() + ": " + ec.message());
    NodeIdentity id = read_identity(file);
    id.created = true;
    return id;
}

} // namespace

std::string node_id_for_key(const std::string &public_z85) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    static const char kContext[] = "skulk-host node id v1";
    unsigned char h[16];
    crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char *>(public_z85.data()), public_z85.size(),
                       reinterpret_cast<const unsigned char *>(kContext), sizeof kContext - 1);
    h[6] = (h[6] & 0x0f) | 0x80; // version 8
    h[8] = (h[8] & 0x3f) | 0x80; // RFC 4122 variant
    char out[37];
    std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
                  h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
    return out;
}

NodeIdentity load_or_create_identity(const fs::path &dir) {
    const fs::path file = dir / "node.key";
    std::error_code ec;
    if (fs::exists(file, ec)) return read_identity(file);
    return create_identity(dir, file);
}

} // namespace skulk::cluster
