// Splits text into words before BPE, with llama.cpp's regex lists per
// pre-tokenizer type. Each regex of a list splits every fragment left by the
// previous one; text between matches stays a fragment of its own.
#pragma once

#include "tokenizer/vocab.hpp"

#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;

namespace skulk::model {

class PreTokenizer {
public:
    explicit PreTokenizer(PreType type);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer &) = delete;
    PreTokenizer &operator=(const PreTokenizer &) = delete;

    // Words as (offset, length) into text.
    void split(std::string_view text, std::vector<std::pair<size_t, size_t>> &words) const;

private:
    std::vector<pcre2_real_code_8 *> codes_;
};

} // namespace skulk::model
