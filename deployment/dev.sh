#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (the README's two commands).
#   deployment/dev.sh run [skulk-host flags...]   install, build, serve the bundled model
#   deployment/dev.sh test                        install, build, run every test
#   deployment/dev.sh deps | build                the steps on their own
# Idempotent: packages are installed only when missing, the build is
# incremental. Set SKULK_BUILD_DIR to build elsewhere (default ./build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${SKULK_BUILD_DIR:-$here/build}"

die() { echo "dev.sh: $*" >&2; exit 1; }

# Debian packages the build, the tests and the benchmarks need.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libboost-dev libboost-filesystem-dev libboost-system-dev libboost-program-options-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libzstd-dev libyaml-cpp-dev libcivetweb-dev
  libzmq3-dev cppzmq-dev libopenblas-dev libvulkan-dev mesa-vulkan-drivers glslc
  libpugixml-dev libtoml11-dev libpcre2-dev libcurl4-openssl-dev libgtest-dev libicu-dev
  clang libclang-rt-14-dev python3 python3-numpy iproute2 procps
  zlib1g-dev libsodium-dev
  python3-yaml systemd zstd
)

deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if ((${#missing[@]})); then
    echo "dev.sh: installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || die "need root or sudo to apt-get install: ${missing[*]}"
      sudo=sudo
    fi
    $sudo apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || die "apt-get install failed for: ${missing[*]}"
  fi
  if [ -f "$here/tests/clients/package.json" ] && [ ! -d "$here/tests/clients/node_modules" ]; then
    echo "dev.sh: installing the client SDKs for the tests (npm)"
    (cd "$here/tests/clients" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in tests/clients"
  fi
}

build() {
  if [ ! -f "$build_dir/build.ninja" ]; then
    cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${SKULK_CMAKE_ARGS:-} \
      || die "cmake configure failed (see above)"
  fi
  cmake --build "$build_dir" || die "build failed (see above)"
}

cmd="${1:-}"
[ -n "$cmd" ] && shift
case "$cmd" in
  deps) deps ;;
  build) deps; build ;;
  run)
    deps; build
    args=("$@")
    [ -f "$here/cards/stories260k.toml" ] && args=(--place stories260k "${args[@]}")
    exec "$build_dir/bin/skulk-host" "${args[@]}"
    ;;
  test)
    deps; build
    cd "$build_dir"
    ctest --output-on-failure --timeout 600 -j "${SKULK_TEST_JOBS:-2}" "$@" || die "tests failed (see above)"
    ;;
  *) die "usage: deployment/dev.sh run|test|deps|build" ;;
esac
