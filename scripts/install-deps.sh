#!/usr/bin/env bash
# Installs the Debian 12 packages the project builds with, if any are missing. Works as root, or
# through sudo otherwise. Safe to run again: with everything present it only checks.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config git
  libboost-dev            # Boost.Asio, Boost.Geometry (header-only parts)
  libzmq3-dev cppzmq-dev  # ZeroMQ and its C++ binding
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  catch2                  # v2 on Debian 12
  libbenchmark-dev        # Google Benchmark (bench/geo_bench)
  clang libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes (tests/fuzz, scripts/fuzz)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
