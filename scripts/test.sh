#!/usr/bin/env bash
# Sets up and builds when needed, then runs every test through CTest: unit tests, multi-rank
# tests under mpirun -np 1..4, and end-to-end tests of the real binaries. Extra arguments go
# to ctest (e.g. -L unit, -R determinism).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/build.sh
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
cd "${ELEANOR_BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" "$@"
