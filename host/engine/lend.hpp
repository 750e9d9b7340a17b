// Lending GGUF tensors to a compute plugin, zero-copy: each skulk_tensor
// points into the host's mapping of the file (GgufFile), which must outlive
// the plugin instance that receives them.
#pragma once

#include "gguf/gguf.hpp"

#include <skulk/abi.h>

#include <cstdint>
#include <vector>

namespace skulk::engine {

// The tensors an instance running layers [first, last] with `range_flags`
// (SKULK_RANGE_EMBED / SKULK_RANGE_HEAD) needs: blk.N.* for N in range, the
// embedding table for EMBED (and for HEAD, where a tied output reuses it),
// output_norm/output for HEAD, and other globals (rope_freqs) always.
// Throws GgufError naming the tensor when its type is unknown or its shape
// does not fit its bytes.
std::vector<skulk_tensor> lend_tensors(const model::GgufFile &file, uint32_t first, uint32_t last, uint32_t range_flags);

// The block index of "blk.N.<...>", or -1 for a global tensor.
int32_t tensor_layer(std::string_view name);

} // namespace skulk::engine
