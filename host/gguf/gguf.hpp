// GGUF (v2 and v3) reader over a read-only memory mapping.
//
// Everything in the file is validated before it is exposed: a GgufFile that
// opened without throwing has in-bounds strings, arrays and tensor data, so
// callers may index without further checks. Values borrow from the mapping
// (string_views, raw array pointers); they live as long as the GgufFile.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace skulk::model {

// The message names the file and what is wrong with it.
struct GgufError : std::runtime_error {
    using runtime_error::runtime_error;
};

enum class GgufValueType : uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12
};

std::string_view to_string(GgufValueType t);
// Bytes of one scalar of this type; 0 for string/array.
size_t scalar_size(GgufValueType t);

class GgufValue {
public:
    GgufValueType type() const { return type_; }
    bool is_array() const { return type_ == GgufValueType::array; }
    bool is_integer() const;
    bool is_float() const { return type_ == GgufValueType::f32 || type_ == GgufValueType::f64; }

    // Scalars. Integer accessors return nullopt when the value is not an
    // integer or does not fit; as_f64 also accepts integers.
    std::optional<uint64_t> as_u64() const;
    std::optional<int64_t> as_i64() const;
    std::optional<double> as_f64() const;
    std::optional<bool> as_bool() const;
    std::optional<std::string_view> as_string() const;

    // Arrays (never nested).
    GgufValueType array_type() const { return elem_type_; }
    size_t array_size() const { return count_; }
    // String arrays: borrowed views into the mapping.
    std::span<const std::string_view> strings() const { return strings_; }
    // Scalar arrays: raw little-endian bytes (possibly unaligned); use elem<T>.
    const uint8_t *array_data() const { return data_; }
    // Scalars: their raw little-endian bytes (scalar_size(type()) of them).
    const uint8_t *scalar_data() const { return data_; }
    template <typename T> T elem(size_t i) const {
        T v;
        std::memcpy(&v, data_ + i * sizeof(T), sizeof(T));
        return v;
    }
    // Any integer/float/bool element as double / int64 (nullopt for strings).
    std::optional<double> elem_f64(size_t i) const;
    std::optional<int64_t> elem_i64(size_t i) const;

private:
    friend class GgufParser;
    GgufValueType type_ = GgufValueType::u8;
    GgufValueType elem_type_ = GgufValueType::u8; // arrays only
    const uint8_t *data_ = nullptr;               // scalar bytes or array payload
    size_t count_ = 0;                            // array length
    std::string_view str_;                        // string scalar
    std::vector<std::string_view> strings_;       // string arrays
};

struct GgufTensorInfo {
    std::string name;
    uint32_t type = 0;
    uint32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};
    uint64_t offset = 0; // relative to the start of the data section
    const void *data = nullptr;
    uint64_t nbytes = 0;
    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

struct GgufKeyValue {
    std::string_view key;
    GgufValue value;
};

class GgufFile {
public:
    // mmap the file read-only and validate everything; throws GgufError.
    static std::shared_ptr<GgufFile> open(const std::filesystem::path &path);
    // Parse bytes held in memory (tests, fuzzing); the bytes are copied into
    // an aligned buffer the file owns. `label` stands in for the file name.
    static std::shared_ptr<GgufFile> from_memory(std::string_view bytes, std::string label);

    ~GgufFile();
    GgufFile(const GgufFile &) = delete;
    GgufFile &operator=(const GgufFile &) = delete;

    uint32_t version() const { return version_; }
    const std::filesystem::path &path() const { return path_; }
    size_t alignment() const { return alignment_; }
    uint64_t file_size() const { return size_; }
    uint64_t data_offset() const { return data_offset_; }
    const uint8_t *bytes() const { return base_; }

    const GgufValue *find(std::string_view key) const;
    const std::vector<GgufKeyValue> &metadata() const { return kv_; }

    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<uint32_t> get_u32(std::string_view key) const;
    std::optional<uint64_t> get_u64(std::string_view key) const;
    std::optional<int32_t> get_i32(std::string_view key) const;
    std::optional<float> get_f32(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;

    const std::vector<GgufTensorInfo> &tensors() const { return tensors_; }
    const GgufTensorInfo *tensor(std::string_view name) const;

    // Throws GgufError "<file>: <what>".
    [[noreturn]] void fail(const std::string &what) const;

private:
    GgufFile() = default;
    friend class GgufParser;
    void parse();

    std::filesystem::path path_;
    std::string label_;
    const uint8_t *base_ = nullptr;
    uint64_t size_ = 0;
    void *map_ = nullptr;          // munmap on destruction when set
    std::unique_ptr<uint8_t[]> owned_; // from_memory buffer
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<GgufKeyValue> kv_;
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

} // namespace skulk::model
