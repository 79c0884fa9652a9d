# Shared by the cluster tests and benchmarks: sourced, not run.
#   eleanor_bin_dir [BIN_DIR]   echoes the binaries' folder: BIN_DIR, or build/bin after
#                               scripts/build.sh
#   sample_reference TMP OUT    indexes data/sample into TMP/corpus and runs the sample job on 2
#                               local ranks into OUT (the reference a launch is compared with);
#                               sets job_args for further runs of the same job
#   export_worker_threading BIN_DIR
#                               exports the threading environment eleanor-worker sets for itself
#                               (common/blas_core.h: OPENBLAS_CORETYPE where OpenBLAS falls back
#                               to SSE3 kernels, OMP_WAIT_POLICY=passive,
#                               OPENBLAS_THREAD_TIMEOUT=4, GLIBC_TUNABLES=glibc.malloc.hugetlb=1;
#                               a user's values kept),
#                               so that FAISS, LibTorch and the benchmarks run as the worker does
#   wait_progress LOG LINES SECONDS
#                               waits until rank 0's progress lines in LOG (logging.level=info)
#                               count LINES lines done; fails after SECONDS
#   launch_stop_pid LOG         echoes the pid eleanor-launch printed in LOG for kill -USR1
eleanor_bin_dir() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ $# -ge 1 ] && [ -n "$1" ]; then
    (cd "$1" && pwd)
  else
    "$root/scripts/build.sh" >/dev/null
    echo "$root/${ELEANOR_BUILD_DIR:-build}/bin"
  fi
}

export_worker_threading() {
  if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    local core
    core="$(OPENBLAS_VERBOSE=2 "$1/eleanor-worker" --help 2>&1 | sed -n 's/^Core: //p' | tail -1)"
    [ -n "$core" ] && export OPENBLAS_CORETYPE="$core"
  fi
  export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
  export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
  export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
}

sample_reference() {
  local tmp="$1" out="$2"
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local config="$root/config/eleanor.yaml" corpus="$tmp/corpus"
  "$bin/eleanor-launch" --np 2 -- index --config "$config" --input "$root/data/sample/precedents.jsonl" \
    --out "$corpus" --set logging.level=warn >/dev/null 2>"$tmp/index.log" ||
    { cat "$tmp/index.log" >&2; fail "index failed"; }
  job_args=(run --config "$config" --set logging.level=warn --set job.precedents="$corpus"
    --set job.input="$root/data/sample/cases.jsonl")
  "$bin/eleanor-launch" --np 2 -- "${job_args[@]}" --set job.output="$out" \
    >"$tmp/reference.log" 2>&1 || { cat "$tmp/reference.log" >&2; fail "the reference run failed"; }
}

wait_progress() {
  local log="$1" want="$2" seconds="$3" done_lines=0
  for _ in $(seq $((seconds * 5))); do
    done_lines="$( (sed -n 's|.*progress: \([0-9]*\)/[0-9]* lines.*|\1|p' "$log" 2>/dev/null || true) | tail -1)"
    [ "${done_lines:-0}" -ge "$want" ] && return 0
    sleep 0.2
  done
  tail -20 "$log" >&2
  fail "$log: fewer than $want lines done after $seconds s"
}

launch_stop_pid() {
  local pid
  pid="$(sed -n 's/^eleanor-launch: to stop this job early .*: kill -USR1 \([0-9]*\) .*/\1/p' "$1")"
  [ -n "$pid" ] || { head -3 "$1" >&2; fail "$1: eleanor-launch did not say how to stop the job"; }
  echo "$pid"
}
