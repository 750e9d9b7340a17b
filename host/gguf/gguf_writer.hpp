// GGUF v3 writer: metadata in insertion order, tensors laid out at the
// chosen alignment. Tensor bytes are produced by a callback at write time so
// that a large model never has to sit in memory all at once.
#pragma once

#include "gguf/gguf.hpp"

#include <functional>
#include <string>
#include <vector>

namespace skulk::model {

class GgufWriter {
public:
    // Appends exactly `nbytes` bytes of tensor data to `out`.
    using Fill = std::function<void(std::string &out)>;

    explicit GgufWriter(uint32_t alignment = 32);

    void set_u32(const std::string &key, uint32_t v);
    void set_i32(const std::string &key, int32_t v);
    void set_u64(const std::string &key, uint64_t v);
    void set_f32(const std::string &key, float v);
    void set_bool(const std::string &key, bool v);
    void set_string(const std::string &key, std::string_view v);
    void set_strings(const std::string &key, const std::vector<std::string> &v);
    void set_f32s(const std::string &key, const std::vector<float> &v);
    void set_i32s(const std::string &key, const std::vector<int32_t> &v);
    // Copies a value read from another file (e.g. its tokenizer.* keys).
    void copy_value(const std::string &key, const GgufValue &v);

    // ne: innermost first. Throws std::invalid_argument when the type is
    // unknown or ne[0] is not a whole number of blocks.
    void add_tensor(const std::string &name, uint32_t type, std::vector<int64_t> ne, Fill fill);
    void add_tensor(const std::string &name, uint32_t type, std::vector<int64_t> ne, std::string bytes);
    static uint64_t tensor_bytes(uint32_t type, const std::vector<int64_t> &ne);

    // Streams the file to `path` (via a temporary + rename).
    void write(const std::filesystem::path &path) const;
    std::string to_bytes() const;

private:
    struct Tensor {
        std::string name;
        uint32_t type;
        std::vector<int64_t> ne;
        uint64_t nbytes, offset;
        Fill fill;
    };
    void key_header(const std::string &key, GgufValueType t);
    template <typename Out> void emit(Out &&sink) const;

    uint32_t alignment_;
    uint64_t n_kv_ = 0;
    std::string kv_; // serialized key/value pairs
    std::vector<Tensor> tensors_;
    uint64_t data_size_ = 0;
};

} // namespace skulk::model
