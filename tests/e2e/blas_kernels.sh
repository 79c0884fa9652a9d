#!/usr/bin/env bash
# The worker runs OpenBLAS's AVX2/AVX-512 kernels on a CPU that has them, even where OpenBLAS
# does not know the CPU model and falls back to SSE3 (common/blas_core.h), and says so, whether
# started through its stub (eleanor-worker) or directly (eleanor-worker-bin); a user's
# OPENBLAS_CORETYPE is left alone. The same for OMP_WAIT_POLICY (passive unless set) and
# OPENBLAS_THREAD_TIMEOUT (4 unless set). doctor says whether AMX or AVX512-BF16 runs bfloat16
# products, as /proc/cpuinfo does, and which dtype the CPU search picks for it.
source "$(dirname "$0")/common.bash" "$@"

if ! grep -qw avx2 /proc/cpuinfo; then echo "no AVX2 on this CPU: nothing to check"; exit 0; fi
# doctor also checks the job's files: give it a corpus, so that it finds no problem.
three_precedent_corpus 1
job=(--config "$config" --set job.precedents="$work/corpus" --set job.output="$work/out")
out="$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$bin/eleanor-worker" doctor "${job[@]}" 2>&1)" ||
  fail "doctor failed: $out"
core="$(sed -n 's/^Core: //p' <<<"$out" | tail -1)"
[ -n "$core" ] || fail "OpenBLAS printed no core: $(head -5 <<<"$out")"
case "${core,,}" in
  prescott|core2|penryn|dunnington|nehalem|sandybridge|atom|unknown)
    fail "the worker runs OpenBLAS's $core kernels on an AVX2 CPU" ;;
esac
grep -q "OpenBLAS kernels: $core" <<<"$out" || fail "doctor does not name the kernels: $out"
# The same when the worker itself (not its stub, eleanor-worker) is started: it starts over.
direct="$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$bin/eleanor-worker-bin" doctor "${job[@]}" 2>&1)" ||
  fail "eleanor-worker-bin doctor failed: $direct"
[ "$(sed -n 's/^Core: //p' <<<"$direct" | tail -1)" = "$core" ] ||
  fail "eleanor-worker-bin started directly runs other kernels than through its stub: $direct"
user="$(OPENBLAS_CORETYPE=Prescott OPENBLAS_VERBOSE=2 "$bin/eleanor-worker" doctor "${job[@]}" 2>&1)" ||
  fail "doctor failed: $user"
[ "$(sed -n 's/^Core: //p' <<<"$user" | tail -1)" = Prescott ] ||
  fail "a user's OPENBLAS_CORETYPE=Prescott was not kept"
# OpenMP's threads wait passively unless the user says otherwise (common/blas_core.h).
grep -q "OpenMP wait policy: passive (set by eleanor-worker" <<<"$(env -u OMP_WAIT_POLICY \
  "$bin/eleanor-worker" doctor "${job[@]}" 2>&1)" || fail "OMP_WAIT_POLICY was not set"
grep -q "OpenMP wait policy: active;" <<<"$(OMP_WAIT_POLICY=active "$bin/eleanor-worker" doctor \
  "${job[@]}" 2>&1)" || fail "a user's OMP_WAIT_POLICY=active was not kept"
# malloc asks for huge pages unless the user set GLIBC_TUNABLES (common/blas_core.h).
grep -q "malloc asks for transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, set by eleanor-worker" \
  <<<"$(env -u GLIBC_TUNABLES "$bin/eleanor-worker" doctor "${job[@]}" 2>&1)" ||
  fail "GLIBC_TUNABLES was not set"
grep -q "GLIBC_TUNABLES=glibc.malloc.arena_max=2 (malloc's huge pages left to it)" \
  <<<"$(GLIBC_TUNABLES=glibc.malloc.arena_max=2 "$bin/eleanor-worker" doctor "${job[@]}" 2>&1)" ||
  fail "a user's GLIBC_TUNABLES was not kept"
# OpenBLAS's idle threads sleep at once unless the user says otherwise; started directly too.
for worker in eleanor-worker eleanor-worker-bin; do
  grep -q "OpenBLAS idle threads spin 2^4 cycles (set by eleanor-worker" <<<"$(env -u \
    OPENBLAS_THREAD_TIMEOUT "$bin/$worker" doctor "${job[@]}" 2>&1)" ||
    fail "$worker: OPENBLAS_THREAD_TIMEOUT was not set"
done
grep -q "OpenBLAS idle threads spin 2^20 cycles$" <<<"$(OPENBLAS_THREAD_TIMEOUT=20 \
  "$bin/eleanor-worker" doctor "${job[@]}" 2>&1)" ||
  fail "a user's OPENBLAS_THREAD_TIMEOUT=20 was not kept"
if grep -qw amx_bf16 /proc/cpuinfo; then
  expected="AMX bfloat16: yes; AVX512-BF16: [a-z]*.*; search.cpu_dtype auto scores in bfloat16"
elif grep -qw avx512_bf16 /proc/cpuinfo; then
  expected="AMX bfloat16: no (.*); AVX512-BF16: yes; search.cpu_dtype auto scores in bfloat16"
else
  expected="AMX bfloat16: no (.*); AVX512-BF16: no (.*); search.cpu_dtype auto scores in float32"
fi
grep -q "Matrix units *$expected" <<<"$out" || fail "doctor's matrix units line is not '$expected': $out"
echo "blas kernels: $core; $(grep -o 'AMX bfloat16: [a-z]*' <<<"$out"); $(grep -o 'AVX512-BF16: [a-z]*' <<<"$out")"
