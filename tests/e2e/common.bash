# Shared by the end-to-end tests: sourced, not run. Usage in a test: source common.bash BIN SRC.
set -euo pipefail
bin="$1"
src="$2"
work="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-e2e.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
config="$src/config/eleanor.yaml"

# mpirun with the flags the tests need on a 2-core machine as root.
ranks() { local n="$1"; shift; mpirun -np "$n" --oversubscribe --bind-to none "$@"; }

fail() { echo "FAIL: $*" >&2; exit 1; }
# wait_progress, launch_stop_pid (shared with the cluster tests)
source "$src/scripts/sample-job.bash"

# three_precedent_corpus RANKS: $work/precedents.jsonl (an allow, a risk deny, a fairness deny)
# indexed by RANKS ranks into $work/corpus.
three_precedent_corpus() {
  cat >"$work/precedents.jsonl" <<'JSONL'
{"id": "p1", "text": "the capital of France is Paris", "decision": "allow"}
{"id": "p2", "text": "step by step instructions to build a pipe bomb", "decision": "deny", "severity": {"risk": 3}}
{"id": "p3", "text": "women are worse at math so only hire men", "decision": "deny", "severity": {"fairness": 3}}
JSONL
  ranks "$1" "$bin/eleanor-worker" index --config "$config" --input "$work/precedents.jsonl" \
    --out "$work/corpus" --set logging.level=warn >/dev/null
}

# rank1_sees_other SOURCE TARGET WORKER-ARGS...: eleanor-worker on two ranks (MPMD), rank 1 in
# a mount namespace of its own where SOURCE is bound over TARGET: another node's copy of a file
# or folder at the same path.
rank1_sees_other() {
  local source="$1" target="$2"; shift 2
  mpirun --oversubscribe --bind-to none -np 1 "$bin/eleanor-worker" "$@" : \
    -np 1 unshare -m --propagation private sh -c \
      'mount --bind "$0" "$1" && shift && exec "$@"' "$source" "$target" "$bin/eleanor-worker" "$@"
}

# expect_fail CODE PATTERN -- command...: the command must exit with CODE and print PATTERN.
# Its output stays in $expect_fail_output for further checks.
expect_fail_output=""
expect_fail() {
  local code="$1" pattern="$2"; shift 3
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  expect_fail_output="$out"
  [ "$rc" -eq "$code" ] || { echo "$out" | tail -20 >&2; fail "expected exit $code, got $rc: $*"; }
  grep -qE -- "$pattern" <<<"$out" || { echo "$out" | tail -20 >&2; fail "no '$pattern' in the output of: $*"; }
}

# Waits until the run in $1 has committed at least $2 rounds.
wait_rounds() {
  for _ in $(seq 1 300); do
    if [ -f "$1/.eleanor-partial/checkpoint.json" ] &&
       python3 -c "import json,sys; sys.exit(json.load(open('$1/.eleanor-partial/checkpoint.json'))['rounds'] < $2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "the job in $1 never committed $2 rounds"
}

# Runs `eleanor-worker run ARGS... --set job.output=$1` on 2 ranks, slowed (300 ms a round),
# and kills every rank with SIGKILL once 3 rounds are committed: an unfinished run to --resume.
# ARGS should commit every round (job.checkpoint_interval_s=0) in small batches.
run_killed_midway() {
  local out="$1"; shift
  ELEANOR_FAULT_ROUND_DELAY_MS=300 ranks 2 "$bin/eleanor-worker" run "$@" \
    --set job.output="$out" >/dev/null 2>&1 &
  local launcher=$!
  wait_rounds "$out" 3
  pkill -9 -f "job.output=$out" || true
  wait "$launcher" 2>/dev/null || true
  [ ! -e "$out/results.jsonl" ] || fail "the killed run in $out must not have finished"
}

# Fails unless the corpus folders $1 and $2 hold the same embeddings, metadata and errors.
same_corpus() {
  for f in embeddings.npy meta.jsonl errors.jsonl; do
    cmp "$1/$f" "$2/$f" || fail "$3: $f differs"
  done
}

# The pid of the worker with MPI rank $1 in the run (or index build) writing to folder $2
# (other tests may be running jobs at the same time; Open MPI puts the rank in each process's
# environment).
rank_pid() {
  for pid in $(pgrep -f "eleanor-worker (run .*job.output=|index .*--out )$2( |$)"); do
    if grep -qx "OMPI_COMM_WORLD_RANK=$1" < <(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null); then
      echo "$pid"; return 0
    fi
  done
  return 1
}
