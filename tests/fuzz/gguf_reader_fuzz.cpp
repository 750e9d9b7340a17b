// libFuzzer target: arbitrary bytes through the GGUF reader, then through
// everything that consumes a parsed file (hparams, tokenizer). Any crash,
// sanitizer report or exception other than the documented ones is a bug.
#include "gguf/gguf.hpp"
#include "gguf/hparams.hpp"
#include "tokenizer/vocab.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace skulk::model;
    std::shared_ptr<GgufFile> f;
    try {
        f = GgufFile::from_memory(std::string_view(reinterpret_cast<const char *>(data), size), "fuzz.gguf");
    } catch (const GgufError &) {
        return 0;
    }
    // Touch every tensor byte range the reader vouched for.
    volatile uint8_t sink = 0;
    for (const auto &t : f->tensors())
        if (t.nbytes) sink = sink + static_cast<const uint8_t *>(t.data)[0] + static_cast<const uint8_t *>(t.data)[t.nbytes - 1];
    for (const auto &kv : f->metadata()) {
        (void)kv.value.as_f64();
        if (kv.value.is_array())
            for (size_t i = 0; i < kv.value.array_size() && i < 64; ++i) (void)kv.value.elem_f64(i);
    }
    try {
        (void)read_hparams(*f);
    } catch (const GgufError &) {
    }
    try {
        auto v = Vocab::from_gguf(*f);
        auto ids = v->tokenize("Hello world <s> 日本 \xF0\x9F\x99\x82", true, true);
        std::string out;
        for (int32_t id : ids) v->append_piece(id, out);
        (void)v->detokenize(ids, true);
    } catch (const GgufError &) {
    } catch (const TokenizeError &) {
    }
    return 0;
}
