#!/usr/bin/env bash
# Configures and builds eleanor-dist into build/ (binaries in build/bin/). Installs the Debian
# packages first when any is missing. Extra arguments go to cmake's configure step, e.g.
#   scripts/build.sh -DELEANOR_WITH_CUDA=OFF
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
build="${ELEANOR_BUILD_DIR:-build}"
generator=()
if command -v ninja >/dev/null && [ ! -f "$build/CMakeCache.txt" ]; then generator=(-G Ninja); fi
cmake -S . -B "$build" "${generator[@]}" "$@" >"$build.configure.log" 2>&1 || {
  cat "$build.configure.log"; echo "build: cmake configure failed (log above)" >&2; exit 1; }
grep -E "^-- eleanor-dist:" "$build.configure.log" || true
cmake --build "$build" --parallel "$(nproc)"
