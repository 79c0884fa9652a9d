#!/usr/bin/env bash
# Installs the Debian 12 packages eleanor-dist builds and runs with. Idempotent: a package
# that is already installed is not touched, and nothing is fetched when all are present.
# Nothing is downloaded from outside Debian's archive.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  libhyperscan-dev libxxhash-dev libutf8proc-dev
  zlib1g-dev libzstd-dev gzip zstd   # gzip / zstd input files; the CLIs for the tests
  tabix                              # bgzip, for the tests of input files ranks split
  python3 python3-numpy python3-torch   # python3-torch: tests/e2e/pytorch_parity.sh
  clang-format
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
