#!/usr/bin/env bash
# Builds the GGUF reader fuzz target with clang (-fsanitize=fuzzer,address,
# undefined) and runs it for a bounded time over a seed corpus of real small
# GGUF files. Exit status non-zero when the fuzzer finds anything.
#   run_gguf_fuzz.sh WORK_DIR [SECONDS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
work="${1:?usage: run_gguf_fuzz.sh WORK_DIR [SECONDS]}"
secs="${2:-60}"
shared="${SKULK_SHARED_DIR:-$src/../shared}"
mkdir -p "$work/corpus" "$work/artifacts"

sources=(
  "$here/gguf_reader_fuzz.cpp"
  "$src/host/model/gguf.cpp" "$src/host/model/hparams.cpp" "$src/host/model/vocab.cpp"
  "$src/host/model/unicode.cpp" "$src/host/model/pretokenizer.cpp"
  "$src/host/model/tokenizer-spm.cpp" "$src/host/model/tokenizer-bpe.cpp" "$src/host/model/tokenizer-wpm.cpp"
  "$src/host/quant/types.cpp"
)
bin="$work/gguf_reader_fuzz"
# Rebuild only when a source is newer than the binary.
rebuild=0
[ -x "$bin" ] || rebuild=1
for s in "${sources[@]}" "$src"/host/model/*.hpp; do [ "$s" -nt "$bin" ] && rebuild=1; done
if [ "$rebuild" = 1 ]; then
  echo "building $bin"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/host" -I"$src/sdk/include" "${sources[@]}" \
    $(pkg-config --cflags --libs libpcre2-8 icu-uc fmt) -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

# Seeds: the small real files (copied: libFuzzer writes new inputs here).
for f in stories260K.gguf TinyStories-656K-Q8_0.gguf vocab/ggml-vocab-gpt-2.gguf vocab/ggml-vocab-bert-bge.gguf \
         vocab/ggml-vocab-llama-spm.gguf; do
  [ -f "$shared/models/$f" ] && cp -n "$shared/models/$f" "$work/corpus/$(basename "$f")" || true
done
cp -n "$here"/seeds/* "$work/corpus/" 2>/dev/null || true

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
"$bin" -max_total_time="$secs" -max_len=4000000 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
