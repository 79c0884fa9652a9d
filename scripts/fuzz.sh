#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/: the cases JSONL parser, the .npy reader, the job
# config loader, the critic rules loader, the gzip / zstd input reader) with clang, ASan and
# UBSan into build-fuzz/, and runs
# each for SECONDS (default 60), two at a time. Exits non-zero when a target crashes, leaks,
# hangs or trips a sanitizer; the input that did it is left in build-fuzz/crashes/.
#   scripts/fuzz.sh [SECONDS]
# Installs clang and its libFuzzer runtime from Debian when missing. ELEANOR_FUZZ_BUILD_DIR
# picks another build folder; extra ctest arguments after SECONDS (e.g. -R npy) pick targets.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2
  exit 2
fi

scripts/setup.sh
fuzz_packages=(clang libclang-rt-14-dev)
missing=()
for p in "${fuzz_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      echo "fuzz: need root or sudo to install: ${missing[*]}" >&2
      exit 1
    }
    sudo="sudo"
  fi
  echo "fuzz: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build="${ELEANOR_FUZZ_BUILD_DIR:-build-fuzz}"
generator=()
if command -v ninja >/dev/null && [ ! -f "$build/CMakeCache.txt" ]; then generator=(-G Ninja); fi
# Only the fuzz targets are built; the rest of the project is configured (its dependencies are
# found) but not compiled. No CUDA, tests or benchmarks: they are not what is fuzzed.
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DELEANOR_BUILD_FUZZERS=ON -DELEANOR_WITH_CUDA=OFF \
  -DELEANOR_BUILD_TESTS=OFF -DELEANOR_BUILD_BENCHMARKS=OFF >"$build.configure.log" 2>&1 || {
  cat "$build.configure.log"; echo "fuzz: cmake configure failed (log above)" >&2; exit 1; }
cmake --build "$build" --target eleanor_fuzzers --parallel "$(nproc)"

echo "fuzz: ${seconds}s per target; crashes go to $build/crashes/"
rm -f "$build"/fuzz-logs/*.summary
status=0
ELEANOR_FUZZ_SECONDS="$seconds" ctest --test-dir "$build" -L fuzz --output-on-failure \
  --parallel "$(nproc)" --timeout $((seconds + 300)) "$@" || status=$?
echo "fuzz: target        time      runs    speed   corpus (files)   memory"
cat "$build"/fuzz-logs/*.summary 2>/dev/null || true
exit "$status"
