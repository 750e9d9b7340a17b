#!/usr/bin/env bash
# Builds one libFuzzer target with clang (-fsanitize=fuzzer,address,undefined)
# and runs it for a bounded time over a seed corpus. Exit status non-zero
# when the fuzzer finds anything.
#   run_fuzz.sh gguf|jinja|openai|card|yaml|wire WORK_DIR [SECONDS]
# SKULK_FUZZ_SEED picks libFuzzer's seed (default 1, so a CI run can be
# repeated; 0 = a random seed, for longer hunts by hand).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
usage="usage: run_fuzz.sh gguf|jinja|openai|card|yaml|wire WORK_DIR [SECONDS]"
target="${1:?$usage}"
work="${2:?$usage}"
secs="${3:-60}"
shared="${SKULK_SHARED_DIR:-$src/../shared}"
mkdir -p "$work/corpus" "$work/artifacts"
h="$src/host"
libs=(libpcre2-8 icu-uc fmt)          # pkg-config names
run_flags=()                          # more libFuzzer flags (a -dict)

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
    cp -n "$here"/seeds/*.gguf "$work/corpus/" 2>/dev/null || true
    max_len=4000000 ;;
  jinja)
    sources=("$here/jinja_fuzz.cpp" "$h/chat_template/chat_template.cpp" "$h"/chat_template/jinja/*.cpp)
    headers=("$h"/chat_template/*.hpp "$h"/chat_template/jinja/*.hpp)
    cp -n "$src"/tests/unit/chat_template/templates/*.jinja "$work/corpus/" 2>/dev/null || true
    max_len=16384 ;;
  openai) # the adapter's request body decoder (first byte: which route)
    sources=("$here/openai_request_fuzz.cpp" "$src/plugins/adapter-openai/openai_decode.cpp")
    headers=("$src"/plugins/adapter-openai/*.hpp "$src"/sdk/include/skulk/*)
    libs=()
    max_len=16384 ;;
  card) # TOML model cards (custom cards arrive over the API and the cluster)
    sources=("$here/card_fuzz.cpp" "$src/host/cards/card_parser.cpp")
    headers=("$src"/host/cards/*.hpp)
    libs=()
    cp -n "$src"/cards/*.toml "$src"/tests/unit/cards/data/*.toml "$work/corpus/" 2>/dev/null || true
    max_len=16384 ;;
  yaml) # skulk.yaml
    sources=("$here/yaml_config_fuzz.cpp" "$src/host/config/yaml_config.cpp" "$src/host/config/access_options.cpp")
    headers=("$src"/host/config/*.hpp)
    libs=(yaml-cpp)
    max_len=8192 ;;
  wire) # cluster envelopes and event-log records
    sources=("$here/wire_fuzz.cpp" "$src/host/cluster/wire.cpp" "$src/host/state/names.cpp")
    headers=("$src"/host/cluster/wire.hpp "$src"/host/state/*.hpp "$src"/host/telemetry/reading.hpp)
    libs=()
    run_flags=(-dict="$here/wire.dict")
    max_len=16384 ;;
  *) echo "run_fuzz.sh: unknown target '$target'" >&2; exit 2 ;;
esac

bin="$work/${target}_fuzz"
rebuild=0
[ -x "$bin" ] || rebuild=1
for s in "${sources[@]}" "${headers[@]}" "$src"/sdk/include/skulk/*.hpp; do [ "$s" -nt "$bin" ] && rebuild=1; done
[ -d "$here/seeds/$target" ] && cp -n "$here/seeds/$target"/* "$work/corpus/"
if [ "$rebuild" = 1 ]; then
  echo "building $bin"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src" -I"$src/host" -I"$src/sdk/include" "${sources[@]}" \
    ${libs[@]:+$(pkg-config --cflags --libs "${libs[@]}")} -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
"$bin" -seed="${SKULK_FUZZ_SEED:-1}" -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "${run_flags[@]}" "$work/corpus"
