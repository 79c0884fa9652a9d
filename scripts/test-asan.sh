#!/usr/bin/env bash
# Builds the unit and multi-rank tests with AddressSanitizer + UndefinedBehaviorSanitizer (g++,
# CPU only; the CMake preset "asan", into build-asan/) and runs them (ctest -L "unit|mpi").
# Any sanitizer report fails its test: ASan and UBSan halt on the first error, LeakSanitizer
# is on, with tests/sanitizers/lsan.supp for Open MPI's own leaks. Extra arguments go to
# ctest (e.g. -R Npy). The first build takes about 7 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
cmake --preset asan >build-asan.configure.log 2>&1 || {
  cat build-asan.configure.log; echo "test-asan: cmake configure failed (log above)" >&2; exit 1; }
cmake --build --preset asan --parallel "$(nproc)"
ctest --preset asan --parallel "$(nproc)" "$@"
