#include "gguf/gguf.hpp"

#include "quant/types.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>

#include <fmt/format.h>

namespace skulk::model {

namespace {
constexpr uint32_t kMagic = 0x46554747; // "GGUF" little-endian
constexpr size_t kMaxDims = 4;

bool mul_overflows(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflows(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_add_overflow(a, b, out); }

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    if (s.size() > 80) out += "...";
    return out;
}
} // namespace

std::string_view to_string(GgufValueType t) {
    switch (t) {
    case GgufValueType::u8: return "u8";
    case GgufValueType::i8: return "i8";
    case GgufValueType::u16: return "u16";
    case GgufValueType::i16: return "i16";
    case GgufValueType::u32: return "u32";
    case GgufValueType::i32: return "i32";
    case GgufValueType::f32: return "f32";
    case GgufValueType::boolean: return "bool";
    case GgufValueType::string: return "string";
    case GgufValueType::array: return "array";
    case GgufValueType::u64: return "u64";
    case GgufValueType::i64: return "i64";
    case GgufValueType::f64: return "f64";
    }
    return "unknown";
}

size_t scalar_size(GgufValueType t) {
    switch (t) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
    case GgufValueType::u16: case GgufValueType::i16: return 2;
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
    case GgufValueType::u64: case GgufValueType::i64: case GgufValueType::f64: return 8;
    default: return 0;
    }
}

// ---------------------------------------------------------------- GgufValue

namespace {
// Reads one scalar of type t at p as int64/uint64/double. Integer types
// decode into `i` (signed) or `u` (unsigned); floats into `d`.
struct Scalar {
    bool is_int = false, is_signed = false, is_float = false, is_bool = false;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
};
template <typename T> T load(const uint8_t *p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
Scalar decode(GgufValueType t, const uint8_t *p) {
    Scalar s;
    switch (t) {
    case GgufValueType::u8: s.is_int = true; s.u = load<uint8_t>(p); break;
    case GgufValueType::u16: s.is_int = true; s.u = load<uint16_t>(p); break;
    case GgufValueType::u32: s.is_int = true; s.u = load<uint32_t>(p); break;
    case GgufValueType::u64: s.is_int = true; s.u = load<uint64_t>(p); break;
    case GgufValueType::i8: s.is_int = s.is_signed = true; s.i = load<int8_t>(p); break;
    case GgufValueType::i16: s.is_int = s.is_signed = true; s.i = load<int16_t>(p); break;
    case GgufValueType::i32: s.is_int = s.is_signed = true; s.i = load<int32_t>(p); break;
    case GgufValueType::i64: s.is_int = s.is_signed = true; s.i = load<int64_t>(p); break;
    case GgufValueType::f32: s.is_float = true; s.d = load<float>(p); break;
    case GgufValueType::f64: s.is_float = true; s.d = load<double>(p); break;
    case GgufValueType::boolean: s.is_bool = true; s.u = load<uint8_t>(p) != 0; break;
    default: break;
    }
    return s;
}
std::optional<uint64_t> to_u64(const Scalar &s) {
    if (!s.is_int) return std::nullopt;
    if (s.is_signed) return s.i < 0 ? std::nullopt : std::optional<uint64_t>(static_cast<uint64_t>(s.i));
    return s.u;
}
std::optional<int64_t> to_i64(const Scalar &s) {
    if (!s.is_int) return std::nullopt;
    if (s.is_signed) return s.i;
    if (s.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(s.u);
}
std::optional<double> to_f64(const Scalar &s) {
    if (s.is_float) return s.d;
    if (s.is_int) return s.is_signed ? static_cast<double>(s.i) : static_cast<double>(s.u);
    return std::nullopt;
}
} // namespace

bool GgufValue::is_integer() const {
    switch (type_) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::u16: case GgufValueType::i16:
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::u64: case GgufValueType::i64:
        return true;
    default: return false;
    }
}

std::optional<uint64_t> GgufValue::as_u64() const {
    return scalar_size(type_) ? to_u64(decode(type_, data_)) : std::nullopt;
}
std::optional<int64_t> GgufValue::as_i64() const {
    return scalar_size(type_) ? to_i64(decode(type_, data_)) : std::nullopt;
}
std::optional<double> GgufValue::as_f64() const {
    return scalar_size(type_) ? to_f64(decode(type_, data_)) : std::nullopt;
}
std::optional<bool> GgufValue::as_bool() const {
    if (type_ != GgufValueType::boolean) return std::nullopt;
    return data_[0] != 0;
}
std::optional<std::string_view> GgufValue::as_string() const {
    if (type_ != GgufValueType::string) return std::nullopt;
    return str_;
}
std::optional<double> GgufValue::elem_f64(size_t i) const {
    size_t sz = scalar_size(elem_type_);
    if (!is_array() || !sz || i >= count_) return std::nullopt;
    Scalar s = decode(elem_type_, data_ + i * sz);
    if (s.is_bool) return static_cast<double>(s.u);
    return to_f64(s);
}
std::optional<int64_t> GgufValue::elem_i64(size_t i) const {
    size_t sz = scalar_size(elem_type_);
    if (!is_array() || !sz || i >= count_) return std::nullopt;
    Scalar s = decode(elem_type_, data_ + i * sz);
    if (s.is_bool) return static_cast<int64_t>(s.u);
    return to_i64(s);
}

// ---------------------------------------------------------------- parser

// A bounds-checked cursor over the file bytes; every read names what it was
// reading so that a truncated file says where it ran out.
class GgufParser {
public:
    explicit GgufParser(GgufFile &f) : f_(f), p_(f.base_), end_(f.base_ + f.size_) {}

    void run();

private:
    uint64_t pos() const { return static_cast<uint64_t>(p_ - f_.base_); }
    uint64_t left() const { return static_cast<uint64_t>(end_ - p_); }
    void need(uint64_t n, std::string_view what) {
        if (n > left())
            f_.fail(fmt::format("truncated file: {} needs {} bytes at offset {}, only {} left", what, n, pos(),
                                left()));
    }
    template <typename T> T read(std::string_view what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p_, sizeof v);
        p_ += sizeof v;
        return v;
    }
    std::string_view read_string(std::string_view what) {
        uint64_t n = read<uint64_t>(what);
        if (n > left())
            f_.fail(fmt::format("{}: string length {} at offset {} runs past the end of the file ({} bytes)", what,
                                n, pos() - 8, f_.size_));
        std::string_view s(reinterpret_cast<const char *>(p_), n);
        p_ += n;
        return s;
    }
    GgufValueType read_type(std::string_view what) {
        uint32_t t = read<uint32_t>(what);
        if (t > static_cast<uint32_t>(GgufValueType::f64))
            f_.fail(fmt::format("{}: unknown value type {} at offset {}", what, t, pos() - 4));
        return static_cast<GgufValueType>(t);
    }
    void read_value(GgufValue &v, GgufValueType t, const std::string &what);

    GgufFile &f_;
    const uint8_t *p_;
    const uint8_t *end_;
};

void GgufParser::read_value(GgufValue &v, GgufValueType t, const std::string &what) {
    v.type_ = t;
    if (size_t sz = scalar_size(t)) {
        need(sz, what);
        v.data_ = p_;
        p_ += sz;
        return;
    }
    if (t == GgufValueType::string) {
        v.str_ = read_string(what);
        return;
    }
    // array
    GgufValueType et = read_type(what + " (array element type)");
    if (et == GgufValueType::array) f_.fail(fmt::format("{}: nested arrays are not supported", what));
    uint64_t n = read<uint64_t>(what + " (array length)");
    v.elem_type_ = et;
    v.count_ = n;
    if (size_t sz = scalar_size(et)) {
        uint64_t bytes = 0;
        if (mul_overflows(n, sz, &bytes) || bytes > left())
            f_.fail(fmt::format("{}: array of {} {} at offset {} runs past the end of the file ({} bytes)", what, n,
                                to_string(et), pos(), f_.size_));
        v.data_ = p_;
        p_ += bytes;
        return;
    }
    // strings: each takes at least its 8-byte length, so n is bounded by the
    // bytes left before we reserve anything.
    if (n > left() / 8)
        f_.fail(fmt::format("{}: array of {} strings at offset {} cannot fit in the {} bytes left", what, n, pos(),
                            left()));
    v.strings_.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.strings_.push_back(read_string(what));
}

void GgufParser::run() {
    if (f_.size_ < 4) f_.fail(fmt::format("not a GGUF file: only {} bytes", f_.size_));
    uint32_t magic = read<uint32_t>("magic");
    if (magic != kMagic) f_.fail(fmt::format("not a GGUF file: bad magic 0x{:08x} (want 0x{:08x} \"GGUF\")", magic, kMagic));
    f_.version_ = read<uint32_t>("version");
    if (f_.version_ == 1) f_.fail("GGUF version 1 is not supported (only versions 2 and 3)");
    if (f_.version_ == 0x02000000u || f_.version_ == 0x03000000u)
        f_.fail("big-endian GGUF files are not supported");
    if (f_.version_ < 2 || f_.version_ > 3)
        f_.fail(fmt::format("unsupported GGUF version {} (only versions 2 and 3)", f_.version_));
    uint64_t n_tensors = read<uint64_t>("tensor count");
    uint64_t n_kv = read<uint64_t>("metadata count");
    // Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes and
    // each tensor info at least 8 + 4 + 4 + 8 bytes: reject absurd counts
    // before allocating anything.
    if (n_kv > left() / 13)
        f_.fail(fmt::format("metadata count {} cannot fit in a file of {} bytes", n_kv, f_.size_));
    if (n_tensors > left() / 24)
        f_.fail(fmt::format("tensor count {} cannot fit in a file of {} bytes", n_tensors, f_.size_));

    f_.kv_.resize(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string_view key = read_string(fmt::format("metadata key #{}", i));
        std::string what = fmt::format("metadata '{}'", printable(key));
        GgufValueType t = read_type(what);
        f_.kv_[i].key = key;
        read_value(f_.kv_[i].value, t, what);
        if (!f_.kv_index_.emplace(key, i).second) f_.fail(fmt::format("duplicate metadata key '{}'", printable(key)));
    }

    if (const GgufValue *a = f_.find("general.alignment")) {
        auto v = a->as_u64();
        if (a->type() != GgufValueType::u32 || !v || *v == 0 || (*v & (*v - 1)) != 0)
            f_.fail("general.alignment must be a u32 power of two");
        f_.alignment_ = *v;
    }

    f_.tensors_.resize(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo &t = f_.tensors_[i];
        t.name = std::string(read_string(fmt::format("tensor #{} name", i)));
        std::string what = fmt::format("tensor '{}'", printable(t.name));
        t.n_dims = read<uint32_t>(what + " n_dims");
        if (t.n_dims == 0 || t.n_dims > kMaxDims)
            f_.fail(fmt::format("{}: n_dims {} is out of range (1..{})", what, t.n_dims, kMaxDims));
        uint64_t n_elems = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            uint64_t ne = read<uint64_t>(what + " dimensions");
            if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                f_.fail(fmt::format("{}: dimension {} has invalid size {}", what, d, static_cast<int64_t>(ne)));
            if (mul_overflows(n_elems, ne, &n_elems) ||
                n_elems > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                f_.fail(fmt::format("{}: element count overflows", what));
            t.ne[d] = static_cast<int64_t>(ne);
        }
        t.type = read<uint32_t>(what + " type");
        const quant::type_traits *tt = quant::find_type(t.type);
        if (!tt) f_.fail(fmt::format("{}: unknown tensor type {}", what, t.type));
        if (t.ne[0] % tt->block_elems != 0)
            f_.fail(fmt::format("{}: row of {} elements is not a whole number of {} blocks ({} elements each)", what,
                                t.ne[0], tt->name, tt->block_elems));
        t.offset = read<uint64_t>(what + " offset");
        if (t.offset % f_.alignment_ != 0)
            f_.fail(fmt::format("{}: data offset {} is not a multiple of the alignment {}", what, t.offset,
                                f_.alignment_));
        // n_elems / block_elems * block_bytes cannot overflow silently.
        if (mul_overflows(n_elems / tt->block_elems, tt->block_bytes, &t.nbytes))
            f_.fail(fmt::format("{}: byte size overflows", what));
    }
    for (size_t i = 0; i < f_.tensors_.size(); ++i)
        if (!f_.tensor_index_.emplace(f_.tensors_[i].name, i).second)
            f_.fail(fmt::format("duplicate tensor name '{}'", printable(f_.tensors_[i].name)));

    // The data section starts at the next multiple of the alignment.
    uint64_t here = pos();
    uint64_t data = 0;
    if (add_overflows(here, f_.alignment_ - 1, &data)) f_.fail("data section offset overflows");
    data -= data % f_.alignment_;
    if (n_tensors > 0 && data > f_.size_)
        f_.fail(fmt::format("data section at offset {} starts past the end of the file ({} bytes)", data, f_.size_));
    f_.data_offset_ = data;
    for (GgufTensorInfo &t : f_.tensors_) {
        uint64_t start = 0, stop = 0;
        if (add_overflows(data, t.offset, &start) || add_overflows(start, t.nbytes, &stop) || stop > f_.size_)
            f_.fail(fmt::format("tensor '{}' data [offset {}, {} bytes] runs past the end of the file ({} bytes)",
                                printable(t.name), t.offset, t.nbytes, f_.size_));
        t.data = f_.base_ + start;
    }
}

// ---------------------------------------------------------------- GgufFile

void GgufFile::fail(const std::string &what) const { throw GgufError(label_ + ": " + what); }

GgufFile::~GgufFile() {
    if (map_) ::munmap(map_, size_);
}

std::shared_ptr<GgufFile> GgufFile::open(const std::filesystem::path &path) {
    std::shared_ptr<GgufFile> f(new GgufFile());
    f->path_ = path;
    f->label_ = path.string();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) f->fail(fmt::format("cannot open: {}", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        f->fail(fmt::format("cannot stat: {}", std::strerror(e)));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        f->fail("not a regular file");
    }
    f->size_ = static_cast<uint64_t>(st.st_size);
    if (f->size_ > 0) {
        void *m = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
        int e = errno;
        ::close(fd);
        if (m == MAP_FAILED) f->fail(fmt::format("cannot mmap {} bytes: {}", f->size_, std::strerror(e)));
        f->map_ = m;
        f->base_ = static_cast<const uint8_t *>(m);
    } else {
        ::close(fd);
        static const uint8_t empty = 0;
        f->base_ = &empty;
    }
    f->parse();
    return f;
}

std::shared_ptr<GgufFile> GgufFile::from_memory(std::string_view bytes, std::string label) {
    std::shared_ptr<GgufFile> f(new GgufFile());
    f->path_ = label;
    f->label_ = std::move(label);
    // Over-allocate so that tensor data keeps the 64-byte alignment a mapping
    // would give it.
    f->owned_.reset(new uint8_t[bytes.size() + 64]);
    uint8_t *b = f->owned_.get();
    b += (64 - reinterpret_cast<uintptr_t>(b) % 64) % 64;
    if (!bytes.empty()) std::memcpy(b, bytes.data(), bytes.size());
    f->base_ = b;
    f->size_ = bytes.size();
    f->parse();
    return f;
}

void GgufFile::parse() {
    GgufParser p(*this);
    p.run();
}

const GgufValue *GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue *v = find(key);
    if (!v) return std::nullopt;
    auto s = v->as_string();
    if (!s) fail(fmt::format("metadata '{}' should be a string, not {}", key, to_string(v->type())));
    return std::string(*s);
}

namespace {
template <typename T> std::optional<T> get_int(const GgufFile &f, std::string_view key) {
    const GgufValue *v = f.find(key);
    if (!v) return std::nullopt;
    if (!v->is_integer()) f.fail(fmt::format("metadata '{}' should be an integer, not {}", key, to_string(v->type())));
    auto i = v->as_i64();
    auto u = v->as_u64();
    if (u && *u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(*u);
    if (i && *i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
        *i <= static_cast<int64_t>(std::numeric_limits<T>::max()))
        return static_cast<T>(*i);
    f.fail(fmt::format("metadata '{}' is out of range", key));
}
} // namespace

std::optional<uint32_t> GgufFile::get_u32(std::string_view key) const { return get_int<uint32_t>(*this, key); }
std::optional<uint64_t> GgufFile::get_u64(std::string_view key) const { return get_int<uint64_t>(*this, key); }
std::optional<int32_t> GgufFile::get_i32(std::string_view key) const { return get_int<int32_t>(*this, key); }

std::optional<float> GgufFile::get_f32(std::string_view key) const {
    const GgufValue *v = find(key);
    if (!v) return std::nullopt;
    auto d = v->as_f64();
    if (!d || v->type() == GgufValueType::boolean)
        fail(fmt::format("metadata '{}' should be a number, not {}", key, to_string(v->type())));
    return static_cast<float>(*d);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue *v = find(key);
    if (!v) return std::nullopt;
    auto b = v->as_bool();
    if (!b) fail(fmt::format("metadata '{}' should be a bool, not {}", key, to_string(v->type())));
    return b;
}

const GgufTensorInfo *GgufFile::tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

} // namespace skulk::model
