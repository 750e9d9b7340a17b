// The GGUF tensor types we know: block geometry used to validate and size
// tensors. Reference (scalar) quantize/dequantize live beside this file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace skulk::quant {

struct type_traits {
    uint32_t id;            // ggml/GGUF type id (skulk_gguf_type)
    std::string_view name;  // "Q4_K", "F16", ...
    uint32_t block_elems;   // elements per block (1 for plain floats)
    uint32_t block_bytes;   // bytes per block
};

// NULL when the id is not a type this build understands.
const type_traits *find_type(uint32_t id);
const type_traits *find_type(std::string_view name);

// Bytes of one row of n elements; nullopt when n is not a whole number of
// blocks or the type is unknown.
std::optional<uint64_t> row_bytes(uint32_t type_id, uint64_t n);

} // namespace skulk::quant
