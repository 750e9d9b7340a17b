#!/usr/bin/env bash
# Builds one libFuzzer target with clang (-fsanitize=fuzzer,address,undefined)
# and runs it for a bounded time over a seed corpus. Exit status non-zero
# when the fuzzer finds anything.
#   run_fuzz.sh gguf|jinja WORK_DIR [SECONDS]
# SKULK_FUZZ_SEED picks libFuzzer's seed (default 1, so a CI run can be
# repeated; 0 = a random seed, for longer hunts by hand).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
target="${1:?usage: run_fuzz.sh gguf|jinja WORK_DIR [SECONDS]}"
work="${2:?usage: run_fuzz.sh gguf|jinja WORK_DIR [SECONDS]}"
secs="${3:-60}"
shared="${SKULK_SHARED_DIR:-$src/../shared}"
mkdir -p "$work/corpus" "$work/artifacts"
h="$src/host"

case "$target" in
  gguf)
    sources=("$here/gguf_reader_fuzz.cpp" "$h/gguf/gguf.cpp" "$h/gguf/hparams.cpp" "$h/tokenizer/vocab.cpp"
             "$h/tokenizer/unicode.cpp" "$h/tokenizer/pretokenizer.cpp" "$h/tokenizer/tokenizer_spm.cpp"
             "$h/tokenizer/tokenizer_bpe.cpp" "$h/tokenizer/tokenizer_wpm.cpp" "$h/quant/types.cpp")
    headers=("$h"/gguf/*.hpp "$h"/tokenizer/*.hpp)
    # Seeds: small real files (copied: libFuzzer writes new inputs here).
    for f in stories260K.gguf TinyStories-656K-Q8_0.gguf vocab/ggml-vocab-gpt-2.gguf vocab/ggml-vocab-bert-bge.gguf \
             vocab/ggml-vocab-llama-spm.gguf; do
      [ -f "$shared/models/$f" ] && cp -n "$shared/models/$f" "$work/corpus/$(basename "$f")" || true
    done
    cp -n "$here"/seeds/* "$work/corpus/" 2>/dev/null || true
    max_len=4000000 ;;
  jinja)
    sources=("$here/jinja_fuzz.cpp" "$h/chat_template/chat_template.cpp" "$h"/chat_template/jinja/*.cpp)
    headers=("$h"/chat_template/*.hpp "$h"/chat_template/jinja/*.hpp)
    cp -n "$src"/tests/unit/chat_template/templates/*.jinja "$work/corpus/" 2>/dev/null || true
    max_len=16384 ;;
  *) echo "run_fuzz.sh: unknown target '$target'" >&2; exit 2 ;;
esac

bin="$work/${target}_fuzz"
rebuild=0
[ -x "$bin" ] || rebuild=1
for s in "${sources[@]}" "${headers[@]}" "$src"/sdk/include/skulk/*.hpp; do [ "$s" -nt "$bin" ] && rebuild=1; done
if [ "$rebuild" = 1 ]; then
  echo "building $bin"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/host" -I"$src/sdk/include" "${sources[@]}" \
    $(pkg-config --cflags --libs libpcre2-8 icu-uc fmt) -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
"$bin" -seed="${SKULK_FUZZ_SEED:-1}" -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
