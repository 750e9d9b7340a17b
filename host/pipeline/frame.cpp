#include "pipeline/frame.hpp"

#include <cstring>

namespace skulk::pipeline {
namespace {

template <class T> std::span<const T> span_of(const zmq::message_t &m) {
    return {static_cast<const T *>(m.data()), m.size() / sizeof(T)};
}

void expect_size(const zmq::message_t &m, size_t want, const char *what) {
    if (m.size() != want)
        throw FrameError(std::string("pipeline ") + what + ": " + std::to_string(m.size()) + " bytes, expected " +
                         std::to_string(want));
}

bool send_parts(zmq::socket_t &s, std::string_view route, std::initializer_list<zmq::const_buffer> parts) {
    try {
        if (!route.empty() && !s.send(zmq::buffer(route), zmq::send_flags::sndmore)) return false;
        size_t i = 0;
        for (const auto &p : parts) {
            const auto more = ++i < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
            if (!s.send(p, more)) return false;
        }
        return true;
    } catch (const zmq::error_t &) {
        return false; // EHOSTUNREACH (ROUTER_MANDATORY): the peer is gone
    }
}

Header header(Kind kind, uint32_t rank) {
    Header h;
    h.kind = static_cast<uint16_t>(kind);
    h.rank = rank;
    return h;
}

} // namespace

const char *to_string(Kind k) {
    switch (k) {
    case Kind::hello: return "hello";
    case Kind::step: return "step";
    case Kind::result: return "result";
    case Kind::error: return "error";
    case Kind::bye: return "bye";
    }
    return "?";
}

void validate(Message &m) {
    if (m.parts.empty()) throw FrameError("pipeline message without frames");
    const auto &h0 = m.parts[0];
    if (h0.size() < 8) throw FrameError("pipeline header: " + std::to_string(h0.size()) + " bytes");
    uint32_t magic = 0;
    uint16_t version = 0;
    std::memcpy(&magic, h0.data(), 4);
    std::memcpy(&version, static_cast<const char *>(h0.data()) + 4, 2);
    if (magic != kMagic) throw FrameError("not a skulk pipeline message (bad magic)");
    if (version != kVersion)
        throw FrameError("pipeline protocol version " + std::to_string(version) + ", this runner speaks " +
                         std::to_string(kVersion));
    expect_size(h0, sizeof(Header), "header");
    std::memcpy(&m.header, h0.data(), sizeof(Header));
    const Header &h = m.header;
    auto parts = [&](size_t n) {
        if (m.parts.size() != n)
            throw FrameError(std::string("pipeline ") + to_string(static_cast<Kind>(h.kind)) + ": " +
                             std::to_string(m.parts.size()) + " frames, expected " + std::to_string(n));
    };
    switch (static_cast<Kind>(h.kind)) {
    case Kind::hello:
        parts(2);
        expect_size(m.parts[1], sizeof(Hello), "hello");
        return;
    case Kind::step:
        parts(6);
        if (h.n_out > h.n_tokens) throw FrameError("pipeline step: more output rows than tokens");
        expect_size(m.parts[1], size_t(h.n_tokens) * 4, "step positions");
        expect_size(m.parts[2], size_t(h.n_tokens) * 4, "step sequence ids");
        expect_size(m.parts[3], size_t(h.n_tokens), "step output flags");
        expect_size(m.parts[4], size_t(h.n_drops) * sizeof(Drop), "step drops");
        expect_size(m.parts[5], size_t(h.n_tokens) * h.width * 4, "step hidden states");
        return;
    case Kind::result:
        parts(2);
        if (m.parts[1].size() % 4 != 0 || h.width == 0 || m.parts[1].size() / 4 % h.width != 0)
            throw FrameError("pipeline result: payload is not whole rows of " + std::to_string(h.width) + " floats");
        return;
    case Kind::error: parts(2); return;
    case Kind::bye: parts(1); return;
    }
    throw FrameError("pipeline message of unknown kind " + std::to_string(h.kind));
}

StepView step_view(const Message &m) {
    return {span_of<int32_t>(m.parts[1]), span_of<uint32_t>(m.parts[2]), span_of<uint8_t>(m.parts[3]),
            span_of<Drop>(m.parts[4]), span_of<float>(m.parts[5])};
}

std::span<const float> result_view(const Message &m) { return span_of<float>(m.parts[1]); }

Hello hello_of(const Message &m) {
    Hello h;
    std::memcpy(&h, m.parts[1].data(), sizeof h);
    return h;
}

std::string error_text(const Message &m) { return m.parts[1].to_string(); }

bool send_hello(zmq::socket_t &s, uint32_t rank, const Hello &h) {
    const Header hd = header(Kind::hello, rank);
    return send_parts(s, {}, {zmq::buffer(&hd, sizeof hd), zmq::buffer(&h, sizeof h)});
}

bool send_step(zmq::socket_t &s, std::string_view route, uint32_t rank, uint64_t step, uint32_t n_out,
               std::span<const int32_t> pos, std::span<const uint32_t> seq, std::span<const uint8_t> want,
               std::span<const Drop> drops, std::span<const float> hidden, uint32_t width) {
    Header h = header(Kind::step, rank);
    h.step = step;
    h.n_tokens = static_cast<uint32_t>(pos.size());
    h.n_out = n_out;
    h.n_drops = static_cast<uint32_t>(drops.size());
    h.width = width;
    return send_parts(s, route,
                      {zmq::buffer(&h, sizeof h), zmq::buffer(pos.data(), pos.size_bytes()),
                       zmq::buffer(seq.data(), seq.size_bytes()), zmq::buffer(want.data(), want.size_bytes()),
                       zmq::buffer(drops.data(), drops.size_bytes()), zmq::buffer(hidden.data(), hidden.size_bytes())});
}

bool send_result(zmq::socket_t &s, uint32_t rank, uint64_t step, uint32_t rows, uint32_t width, const float *data) {
    Header h = header(Kind::result, rank);
    h.step = step;
    h.n_tokens = rows;
    h.width = width;
    return send_parts(s, {}, {zmq::buffer(&h, sizeof h), zmq::buffer(data, size_t(rows) * width * sizeof(float))});
}

bool send_error(zmq::socket_t &s, uint32_t rank, std::string_view message) {
    const Header h = header(Kind::error, rank);
    return send_parts(s, {}, {zmq::buffer(&h, sizeof h), zmq::buffer(message)});
}

bool send_bye(zmq::socket_t &s, std::string_view route, uint32_t rank) {
    const Header h = header(Kind::bye, rank);
    return send_parts(s, route, {zmq::buffer(&h, sizeof h)});
}

bool receive(zmq::socket_t &s, bool has_route, std::string &route, Message &out, std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return false;
    out.parts.clear();
    route.clear();
    bool first = true;
    for (;;) {
        zmq::message_t part;
        if (!s.recv(part, zmq::recv_flags::none)) return false;
        const bool more = part.more();
        if (first && has_route) route.assign(static_cast<const char *>(part.data()), part.size());
        else out.parts.push_back(std::move(part));
        first = false;
        if (!more) break;
    }
    return true;
}

} // namespace skulk::pipeline
