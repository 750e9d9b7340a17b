#include "gguf/gguf_writer.hpp"

#include "quant/types.hpp"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace skulk::model {

namespace {
template <typename T> void put(std::string &o, T v) { o.append(reinterpret_cast<const char *>(&v), sizeof v); }
void put_str(std::string &o, std::string_view s) {
    put<uint64_t>(o, s.size());
    o.append(s);
}
uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }
} // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)))
        throw std::invalid_argument("GGUF alignment must be a power of two");
    if (alignment != 32) set_u32("general.alignment", alignment);
}

void GgufWriter::key_header(const std::string &key, GgufValueType t) {
    put_str(kv_, key);
    put<uint32_t>(kv_, static_cast<uint32_t>(t));
    ++n_kv_;
}

void GgufWriter::set_u32(const std::string &k, uint32_t v) { key_header(k, GgufValueType::u32), put(kv_, v); }
void GgufWriter::set_i32(const std::string &k, int32_t v) { key_header(k, GgufValueType::i32), put(kv_, v); }
void GgufWriter::set_u64(const std::string &k, uint64_t v) { key_header(k, GgufValueType::u64), put(kv_, v); }
void GgufWriter::set_f32(const std::string &k, float v) { key_header(k, GgufValueType::f32), put(kv_, v); }
void GgufWriter::set_bool(const std::string &k, bool v) {
    key_header(k, GgufValueType::boolean);
    put<uint8_t>(kv_, v ? 1 : 0);
}
void GgufWriter::set_string(const std::string &k, std::string_view v) {
    key_header(k, GgufValueType::string);
    put_str(kv_, v);
}
void GgufWriter::set_strings(const std::string &k, const std::vector<std::string> &v) {
    key_header(k, GgufValueType::array);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufValueType::string));
    put<uint64_t>(kv_, v.size());
    for (const auto &s : v) put_str(kv_, s);
}
void GgufWriter::set_f32s(const std::string &k, const std::vector<float> &v) {
    key_header(k, GgufValueType::array);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufValueType::f32));
    put<uint64_t>(kv_, v.size());
    kv_.append(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float));
}
void GgufWriter::set_i32s(const std::string &k, const std::vector<int32_t> &v) {
    key_header(k, GgufValueType::array);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufValueType::i32));
    put<uint64_t>(kv_, v.size());
    kv_.append(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(int32_t));
}

void GgufWriter::copy_value(const std::string &k, const GgufValue &v) {
    key_header(k, v.type());
    if (size_t sz = scalar_size(v.type())) {
        kv_.append(reinterpret_cast<const char *>(v.scalar_data()), sz); // exact bytes, same type
        return;
    }
    if (v.type() == GgufValueType::string) {
        put_str(kv_, *v.as_string());
        return;
    }
    put<uint32_t>(kv_, static_cast<uint32_t>(v.array_type()));
    put<uint64_t>(kv_, v.array_size());
    if (v.array_type() == GgufValueType::string) {
        for (auto s : v.strings()) put_str(kv_, s);
    } else {
        kv_.append(reinterpret_cast<const char *>(v.array_data()), v.array_size() * scalar_size(v.array_type()));
    }
}

uint64_t GgufWriter::tensor_bytes(uint32_t type, const std::vector<int64_t> &ne) {
    if (ne.empty() || ne.size() > 4) throw std::invalid_argument("a tensor has 1 to 4 dimensions");
    auto row = quant::row_bytes(type, static_cast<uint64_t>(ne[0]));
    const quant::type_traits *t = quant::find_type(type);
    if (!row || !t)
        throw std::invalid_argument(fmt::format("type {} cannot hold rows of {} elements", t ? t->name : "?", ne[0]));
    uint64_t n = *row;
    for (size_t i = 1; i < ne.size(); ++i) n *= static_cast<uint64_t>(ne[i]);
    return n;
}

void GgufWriter::add_tensor(const std::string &name, uint32_t type, std::vector<int64_t> ne, Fill fill) {
    uint64_t nbytes = tensor_bytes(type, ne);
    data_size_ = align_up(data_size_, alignment_);
    tensors_.push_back({name, type, std::move(ne), nbytes, data_size_, std::move(fill)});
    data_size_ += nbytes;
}

void GgufWriter::add_tensor(const std::string &name, uint32_t type, std::vector<int64_t> ne, std::string bytes) {
    auto shared = std::make_shared<std::string>(std::move(bytes));
    if (shared->size() != tensor_bytes(type, ne))
        throw std::invalid_argument(fmt::format("tensor '{}': {} bytes given, {} expected", name, shared->size(),
                                                tensor_bytes(type, ne)));
    add_tensor(name, type, std::move(ne), [shared](std::string &out) { out += *shared; });
}

template <typename Out> void GgufWriter::emit(Out &&sink) const {
    std::string head;
    put<uint32_t>(head, 0x46554747);
    put<uint32_t>(head, 3);
    put<uint64_t>(head, tensors_.size());
    put<uint64_t>(head, n_kv_);
    head += kv_;
    for (const auto &t : tensors_) {
        put_str(head, t.name);
        put<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
        for (int64_t d : t.ne) put<uint64_t>(head, static_cast<uint64_t>(d));
        put<uint32_t>(head, t.type);
        put<uint64_t>(head, t.offset);
    }
    head.resize(align_up(head.size(), alignment_), '\0');
    sink(head);
    uint64_t at = 0;
    std::string buf;
    for (const auto &t : tensors_) {
        buf.assign(t.offset - at, '\0');
        size_t before = buf.size();
        t.fill(buf);
        if (buf.size() - before != t.nbytes)
            throw std::logic_error(fmt::format("tensor '{}': filler wrote {} bytes, {} expected", t.name,
                                               buf.size() - before, t.nbytes));
        sink(buf);
        at = t.offset + t.nbytes;
    }
}

std::string GgufWriter::to_bytes() const {
    std::string out;
    emit([&](const std::string &s) { out += s; });
    return out;
}

void GgufWriter::write(const std::filesystem::path &path) const {
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw std::runtime_error(fmt::format("{}: cannot create", tmp.string()));
        emit([&](const std::string &s) { f.write(s.data(), static_cast<std::streamsize>(s.size())); });
        f.flush();
        if (!f) throw std::runtime_error(fmt::format("{}: write failed", tmp.string()));
    }
    std::filesystem::rename(tmp, path);
}

} // namespace skulk::model
