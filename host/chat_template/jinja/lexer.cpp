#include "chat_template/jinja/lexer.hpp"

#include "chat_template/jinja/value.hpp"
#include "skulk/utf8.hpp"

#include <fmt/format.h>

#include <cctype>

namespace skulk::model::jinja {

namespace {

class Lexer {
public:
    explicit Lexer(std::string_view s) : s_(s) {}

    std::vector<Token> run() {
        bool strip_next = false; // a `-}}`-style tag strips the following text
        bool trim_newline = false; // trim_blocks after a block tag
        while (pos_ < s_.size()) {
            size_t open = find_open(pos_);
            std::string text(s_.substr(pos_, open - pos_));
            if (trim_newline) {
                if (text.rfind("\r\n", 0) == 0) text.erase(0, 2);
                else if (!text.empty() && text[0] == '\n') text.erase(0, 1);
            }
            if (strip_next) text.erase(0, text.find_first_not_of(" \t\r\n") == std::string::npos ? text.size() : text.find_first_not_of(" \t\r\n"));
            strip_next = trim_newline = false;
            if (open == s_.size()) {
                emit_text(text, pos_);
                break;
            }
            const char kind = s_[open + 1]; // '{', '%' or '#'
            const char mod = open + 2 < s_.size() ? s_[open + 2] : '\0';
            if (mod == '-') {
                size_t keep = text.find_last_not_of(" \t\r\n");
                text.erase(keep == std::string::npos ? 0 : keep + 1);
            } else if ((kind == '%' || kind == '#') && mod != '+') {
                // lstrip_blocks: indentation alone on the line before a block tag.
                size_t nl = text.find_last_of('\n');
                size_t start = nl == std::string::npos ? 0 : nl + 1;
                if (text.find_first_not_of(" \t", start) == std::string::npos &&
                    (nl != std::string::npos || at_line_start(pos_)))
                    text.erase(start);
            }
            emit_text(text, pos_);
            pos_ = open + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
            if (kind == '#') {
                size_t close = s_.find("#}", pos_);
                if (close == std::string::npos) fail("unterminated comment", open);
                strip_next = close > pos_ && s_[close - 1] == '-';
                trim_newline = !strip_next;
                pos_ = close + 2;
                continue;
            }
            const bool expr = kind == '{';
            push(expr ? Tok::expr_open : Tok::stmt_open, "", open);
            bool closed = false;
            while (!closed) {
                skip_space();
                if (pos_ >= s_.size()) fail(expr ? "unterminated '{{'" : "unterminated '{%'", open);
                const char *close = expr ? "}}" : "%}";
                bool dash = s_.compare(pos_, 3, std::string("-") + close) == 0;
                if (dash || s_.compare(pos_, 2, close) == 0) {
                    push(expr ? Tok::expr_close : Tok::stmt_close, "", pos_);
                    pos_ += dash ? 3 : 2;
                    strip_next = dash;
                    trim_newline = !expr && !dash;
                    closed = true;
                } else {
                    token();
                }
            }
        }
        push(Tok::eof, "", s_.size());
        return std::move(out_);
    }

private:
    bool at_line_start(size_t p) const { return p == 0 || s_[p - 1] == '\n'; }
    size_t find_open(size_t from) const {
        for (size_t p = s_.find('{', from); p != std::string_view::npos; p = s_.find('{', p + 1))
            if (p + 1 < s_.size() && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#')) return p;
        return s_.size();
    }
    void emit_text(std::string &t, size_t at) {
        if (!t.empty()) push(Tok::text, std::move(t), at);
    }
    void skip_space() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    void push(Tok t, std::string text, size_t at) {
        auto [line, col] = where(at);
        out_.push_back({t, std::move(text), line, col});
    }
    std::pair<int, int> where(size_t at) const {
        int line = 1, col = 1;
        for (size_t i = 0; i < at && i < s_.size(); ++i) {
            if (s_[i] == '\n') ++line, col = 1;
            else ++col;
        }
        return {line, col};
    }
    [[noreturn]] void fail(const std::string &what, size_t at) const {
        auto [line, col] = where(at);
        throw TemplateError(fmt::format("chat template: {} at line {}, column {}", what, line, col));
    }

    void token() {
        const size_t start = pos_;
        char c = s_[pos_];
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
            push(Tok::name, std::string(s_.substr(start, pos_ - start)), start);
            return;
        }
        if (std::isdigit(static_cast<unsigned char>(c))) {
            bool is_float = false;
            while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
            if (pos_ + 1 < s_.size() && s_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
                is_float = true;
                ++pos_;
                while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
            }
            std::string num(s_.substr(start, pos_ - start));
            std::erase(num, '_');
            push(is_float ? Tok::number : Tok::integer, num, start);
            return;
        }
        if (c == '\'' || c == '"') {
            std::string v;
            ++pos_;
            while (true) {
                if (pos_ >= s_.size()) fail("unterminated string", start);
                char ch = s_[pos_++];
                if (ch == c) break;
                if (ch != '\\') {
                    v += ch;
                    continue;
                }
                if (pos_ >= s_.size()) fail("unterminated string", start);
                char e = s_[pos_++];
                switch (e) {
                case 'n': v += '\n'; break;
                case 't': v += '\t'; break;
                case 'r': v += '\r'; break;
                case 'b': v += '\b'; break;
                case 'f': v += '\f'; break;
                case '0': v += '\0'; break;
                case '\\': case '\'': case '"': v += e; break;
                case 'u': case 'x': {
                    size_t n = e == 'u' ? 4 : 2;
                    uint32_t cp = 0;
                    for (size_t k = 0; k < n; ++k) {
                        char h = pos_ + k < s_.size() ? s_[pos_ + k] : '\0';
                        if (!std::isxdigit(static_cast<unsigned char>(h))) fail("bad escape in string", start);
                        cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
                    }
                    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; // a lone surrogate is not a character
                    pos_ += n;
                    utf8::append(v, cp);
                    break;
                }
                case '\n': break; // line continuation
                default: v += '\\', v += e;
                }
            }
            push(Tok::string, std::move(v), start);
            return;
        }
        static const char *const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                           "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "=", "?"};
        for (const char *op : kOps) {
            size_t n = std::char_traits<char>::length(op);
            if (s_.compare(pos_, n, op) == 0) {
                pos_ += n;
                push(Tok::op, op, start);
                return;
            }
        }
        fail(fmt::format("unexpected character '{}'", c), start);
    }

    std::string_view s_;
    size_t pos_ = 0;
    std::vector<Token> out_;
};

} // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(source).run(); }

} // namespace skulk::model::jinja
