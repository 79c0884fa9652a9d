#!/usr/bin/env bash
# A real Slurm on this machine runs the sample job, and its results equal mpirun's.
#
# Installs Debian's munge, slurmctld, slurmd and slurm-client when missing (apt-get, once),
# then starts private daemons: munged on its own key and socket, slurmctld and slurmd on free
# ports, one node (this machine, its cores as CPUs), config, state, logs and pid files in a
# temporary folder. It submits slurm/eleanor.sbatch with 2 tasks on the sample data (srun
# --mpi=pmix, as eleanor-launch picks it) and again with --launcher mpirun (Open MPI inside
# the allocation), waits for each with a bound, and checks that results.jsonl is
# byte-identical to a plain mpirun run's; that `doctor` as a batch job on the same 2 tasks finds
# no problem and reports every rank's build and device; that a job warned mid-run as the time limit's
# --signal=B:USR1@300 warns it stops with its cases committed, requeues itself
# (ELEANOR_REQUEUE=1) and resumes to the same results (an index build too, to the same corpus),
# and that a job whose time limit is under twice the warning ignores it; then that a mis-launch
# (srun without PMIx: two singletons) fails instead of running the job twice. The daemons it
# started are stopped by their pid files when it ends, passed or failed.
#
# Usage: scripts/test-slurm.sh [BIN_DIR]   (default: build with scripts/build.sh, use build/bin)
# Exit status: 0 passed, 1 failed, 77 skipped (not root: the daemons need it; or the packages
# cannot be installed).
# ELEANOR_KEEP_SLURM=1 leaves the temporary folder (config, logs) in place for a look.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/sample-job.bash"
bin="$(eleanor_bin_dir "${1:-}")"
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test-slurm.sh starts munged, slurmctld and slurmd as root; run it as root"
  exit 77
fi
say() { echo "test-slurm: [${SECONDS}s] $*"; }
fail() { echo "test-slurm: FAIL: $*" >&2; exit 1; }

# ---- packages: Debian's, installed once ----
missing=()
for package in munge slurmctld slurmd slurm-client; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
      --no-install-recommends "${missing[@]}" >/dev/null
  }
  if ! apt_install && ! { apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null && apt_install; }; then
    echo "SKIP: cannot install ${missing[*]} with apt-get (no package archive reachable?)"
    exit 77
  fi
fi

# ---- private daemons in a temporary folder; stopped on exit, whatever happens ----
tmp="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-slurm.XXXXXX")"
chmod 755 "$tmp"
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/jobs"
chmod 700 "$tmp/munge"
export SLURM_CONF="$tmp/slurm.conf"
pending=()  # a batch job not yet finished: cancelled on exit

# stop NAME:PIDFILE...: TERM to each daemon at once, then up to 10 s for all, then KILL.
stop() {
  local item pid pids=() names=()
  for item in "$@"; do
    [ -s "${item#*:}" ] || continue
    pid="$(cat "${item#*:}")"
    kill "$pid" 2>/dev/null && { pids+=("$pid"); names+=("${item%%:*}"); }
  done
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    echo "test-slurm: pid $pid (of ${names[*]}) ignored TERM: killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  done
}
cleanup() {
  local rc=$?
  set +e
  if [ ${#pending[@]} -gt 0 ]; then
    scancel "${pending[@]}" >/dev/null 2>&1
    sleep 2  # let slurmd end the job's processes before it stops
  fi
  stop "slurmd:$tmp/slurmd.pid" "slurmctld:$tmp/slurmctld.pid" "munged:$tmp/munge/munged.pid"
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/log/*.log; do
      [ -f "$log" ] && { echo "---- last lines of $log" >&2; tail -15 "$log" >&2; }
    done
  fi
  if [ "${ELEANOR_KEEP_SLURM:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# munged: its own key and socket, so a system munge (if any) is neither used nor disturbed.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$tmp/munge/munge.key"
socket="$tmp/munge/munge.socket"
munged --force --socket="$socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/log/munged.log" \
  --seed-file="$tmp/munge/munged.seed" </dev/null >/dev/null 2>&1 || fail "munged did not start"

# Two free TCP ports (not Slurm's defaults 6817/6818: a real cluster may run here).
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("", 0))
print(*[x.getsockname()[1] for x in s])')
node="$(hostname -s)"
# nproc would honour OMP_NUM_THREADS (CTest sets it to 1): ask for the CPUs themselves.
cpus="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"
overrides=""
if [ "$cpus" -lt 2 ]; then  # the job has 2 tasks: a 1-CPU machine is declared as 2
  cpus=2
  overrides="SlurmdParameters=config_overrides"
fi
cat >"$SLURM_CONF" <<CONF
# Written by scripts/test-slurm.sh: a one-node cluster on this machine.
ClusterName=eleanortest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
$overrides
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=eleanor Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
slurmctld </dev/null >/dev/null 2>&1 || fail "slurmctld did not start"
slurmd </dev/null >/dev/null 2>&1 || fail "slurmd did not start"
state=""
for _ in $(seq 60); do
  state="$(sinfo -h -N -n "$node" -o %t 2>/dev/null || true)"
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || fail "node $node is '${state:-unknown}' after 30 s, not idle"
say "slurmctld :$ctld_port and slurmd :$slurmd_port up; node $node idle with $cpus CPUs;" \
  "srun --mpi=list: $(srun --mpi=list 2>&1 | grep -vi 'types are' | tr -s ' \t\n' ' ')"

# ---- the reference: the same job under plain mpirun ----
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
sample_reference "$tmp" "$tmp/out-mpirun"

# ---- sbatch slurm/eleanor.sbatch, 2 tasks ----
# submit_worker NAME [VAR=value...] -- WORKER ARGS...: slurm/eleanor.sbatch with 2 tasks running
# the worker's ARGS as batch job NAME; waits for its end, which must be COMPLETED; sets job_id
# and log.
submit_worker() {
  local name="$1" state=""
  shift
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  # OMP_NUM_THREADS unset: eleanor-launch sets it from the allocation.
  job_id="$(env -u OMP_NUM_THREADS "${vars[@]}" ELEANOR_BIN="$bin" sbatch --parsable --job-name="$name" \
    --ntasks-per-node=2 --cpus-per-task=1 --chdir="$tmp/jobs" --output="$tmp/jobs/%x-%j.out" \
    "$root/slurm/eleanor.sbatch" "$@")" ||
    fail "sbatch refused batch job $name"
  job_id="${job_id%%;*}"
  pending+=("$job_id")
  log="$tmp/jobs/$name-$job_id.out"
  # Polled here rather than with sbatch --wait, whose back-off adds seconds.
  for _ in $(seq 480); do
    state="$(scontrol show job "$job_id" 2>/dev/null | grep -oE "JobState=[A-Z_]+ Reason=[A-Za-z_]+" || true)"
    # A job Slurm will never start (asks more than the node or partition has) fails now.
    case "$state" in
      *Reason=PartitionConfig | *Reason=PartitionNodeLimit | *Reason=BadConstraints | *Reason=ReqNodeNotAvail)
        fail "batch job $name ($job_id) cannot start: $state" ;;
    esac
    state="${state%% *}"
    case "$state" in
      JobState=PENDING | JobState=CONFIGURING | JobState=RUNNING | JobState=COMPLETING | "") sleep 0.5 ;;
      *) break ;;
    esac
  done
  pending=()
  if [ "$state" != JobState=COMPLETED ]; then
    [ -f "$log" ] && tail -30 "$log" >&2
    scontrol show job "$job_id" 2>/dev/null | grep -E "JobState|ExitCode|Reason" >&2 || true
    fail "batch job $name ($job_id): ${state:-no state} (after at most 240 s), not COMPLETED"
  fi
  [ -f "$log" ] || fail "batch job $name ($job_id) left no log $log (--output=%x-%j.out)"
}

submit() {  # submit NAME [VAR=value...]: the sample job as batch job NAME; the mpirun run's bytes
  local name="$1"
  shift
  submit_worker "$name" "$@" -- "${job_args[@]}" --set job.output="$tmp/out-$name"
  cmp "$tmp/out-mpirun/results.jsonl" "$tmp/out-$name/results.jsonl" ||
    fail "results.jsonl of batch job $name ($job_id) differs from the mpirun run's"
  python3 - "$tmp/out-$name/report.json" <<'PY' || fail "report.json of $name: not a 2-rank run"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["world_size"] == 2 and r["counts"]["results"] == 500, (r["world_size"], r["counts"])
PY
}

say "mpirun reference done"; started=$SECONDS
submit eleanor-srun
grep -qE "^OMP_NUM_THREADS=1 srun --mpi=pmix --ntasks=2 --cpus-per-task=1 --kill-on-bad-exit=1 --export=ALL " "$log" ||
  { cat "$log" >&2; fail "job $job_id: eleanor-launch did not start the ranks with srun --mpi=pmix"; }
say "sbatch job $job_id (srun --mpi=pmix, 2 tasks): results.jsonl identical to mpirun's ($((SECONDS - started)) s)"

# doctor on the allocation's tasks (slurm/README.md): both ranks' build and devices, no problem.
started=$SECONDS
submit_worker eleanor-doctor -- doctor "${job_args[@]:1}" --set job.output="$tmp/out-doctor"
for row in "world +2 rank\(s\)" "build +eleanor-dist .*, on every rank" "devices +rank\(s\) 0-1: cpu"; do
  grep -qE "^  $row" "$log" || { cat "$log" >&2; fail "doctor job $job_id: no row '$row'"; }
done
grep -q "^everything a CPU run needs is in place" "$log" || { cat "$log" >&2; fail "doctor job $job_id found a problem"; }
say "sbatch doctor job $job_id (srun, 2 tasks): no problem ($((SECONDS - started)) s)"

started=$SECONDS
submit eleanor-mpirun ELEANOR_LAUNCH_ARGS="--launcher mpirun"
grep -qE "^mpirun -np 2 .*--bind-to none" "$log" ||
  { cat "$log" >&2; fail "job $job_id: eleanor-launch did not use mpirun inside the allocation"; }
say "sbatch job $job_id (mpirun inside the allocation): results.jsonl identical ($((SECONDS - started)) s)"

# ---- a stop before the time limit, requeued and resumed ----
# warn_mid_run NAME LINES DONE [sbatch options...]: the worker arguments in warned_job, slowed to
# 0.3 s rounds, as batch job NAME (ELEANOR_REQUEUE=1); once rank 0's progress counts LINES lines,
# Slurm's warning as --signal=B:USR1@300 sends it (to the batch script: scancel --batch). Waits
# for the job's end (its log holding DONE), starting a requeued job at once; sets job_id, log
# and state.
warn_mid_run() {
  local name="$1" lines="$2" done_pattern="$3" hurried=0 ended=0
  shift 3
  job_id="$(env -u OMP_NUM_THREADS ELEANOR_BIN="$bin" ELEANOR_REQUEUE=1 ELEANOR_FAULT_ROUND_DELAY_MS=300 \
    sbatch --parsable --job-name="$name" --ntasks-per-node=2 --cpus-per-task=1 "$@" \
    --chdir="$tmp/jobs" --output="$tmp/jobs/%x-%j.out" \
    "$root/slurm/eleanor.sbatch" "${warned_job[@]}" --set logging.level=info \
    --set logging.progress_interval_s=0.1)" ||
    fail "sbatch refused batch job $name"
  job_id="${job_id%%;*}"
  pending+=("$job_id")
  log="$tmp/jobs/$name-$job_id.out"
  wait_progress "$log" "$lines" 120
  scancel --batch --signal=USR1 "$job_id" || fail "scancel --batch --signal=USR1 $job_id refused"
  state=""
  for _ in $(seq 600); do
    state="$(scontrol show job "$job_id" 2>/dev/null | grep -oE "JobState=[A-Z_]+" || true)"
    [ "$state" = JobState=COMPLETED ] && grep -q "$done_pattern" "$log" && break
    # The requeue can show the first start's end (FAILED, exit 75) for a moment: only a state
    # that lasts 5 s is final.
    case "$state" in
      JobState=FAILED | JobState=CANCELLED | JobState=TIMEOUT) ended=$((ended + 1)) ;;
      *) ended=0 ;;
    esac
    [ "$ended" -lt 25 ] || break
    # Slurm makes a requeued job wait about two minutes before it may start again: start it
    # soon after slurmd has finished with the first start's steps (sooner, the new step's launch
    # can meet the old one's clean-up and fail). Not in the same second: slurmd refuses a
    # credential made no later than the second it revoked the first start's ("Killing
    # non-startable batch JobId=4: Job credential revoked", seen in CI): 2 s later.
    if [ "$hurried" = 0 ] && [ "$state" = JobState=PENDING ] && grep -q "requeueing job" "$log" &&
       grep -q "\[$job_id.0\] done with job" "$tmp/log/slurmd.log" &&
       grep -q "\[$job_id.batch\] done with job" "$tmp/log/slurmd.log"; then
      sleep 2 && scontrol update JobId="$job_id" StartTime=now && hurried=1
    fi
    sleep 0.2
  done
  pending=()
  [ "$state" = JobState=COMPLETED ] || { tail -30 "$log" >&2; fail "job $job_id ($name): $state"; }
}

# The sample job, rounds of 8 cases (two rounds: 2 ranks x 8 cases each).
warn_run() {  # warn_run NAME [sbatch options...]
  local name="$1"
  shift
  warned_job=("${job_args[@]}" --set job.output="$tmp/out-$name" --set job.batch_size=8)
  warn_mid_run "$name" 32 "eleanor-dist run: 500 lines" "$@"
  cmp "$tmp/out-mpirun/results.jsonl" "$tmp/out-$name/results.jsonl" ||
    fail "results.jsonl of batch job $name ($job_id) differs from mpirun's"
}

# The script passes the warning through srun to the ranks, which stop at the end of a round with
# their cases committed (exit 75); the job requeues itself and its second start resumes.
started=$SECONDS
warn_run eleanor-stop
for expected in "stopped on SIGUSR1: [0-9]* of 500 lines are done" "requeueing job $job_id" \
    "restart 1 of job $job_id: resuming if unfinished" "resuming after [0-9]* committed rounds"; do
  grep -q "$expected" "$log" || { tail -40 "$log" >&2; fail "stop job $job_id: no '$expected' in its log"; }
done
say "sbatch job $job_id: stopped on USR1 ($(grep -o "stopped on SIGUSR1: [0-9]* of 500" "$log")" \
  "lines), requeued, resumed: results.jsonl identical ($((SECONDS - started)) s)"

# An index build the same way (rounds of 100 precedents): every rank commits its staging, the
# restart's --resume-if-unfinished embeds the rest, and the corpus equals mpirun's build.
started=$SECONDS
warned_job=(index --config "$root/config/eleanor.yaml" --input "$root/data/sample/precedents.jsonl"
  --out "$tmp/out-index-stop" --set job.batch_size=100)
warn_mid_run eleanor-index-stop 400 "eleanor-dist index: 2000 precedents"
for expected in "stopped on SIGUSR1: [0-9]* of 2000 lines of .* are indexed" "requeueing job $job_id" \
    "restart 1 of job $job_id: resuming if unfinished" "resuming the index build: [0-9]* of 2000 lines already done"; do
  grep -q "$expected" "$log" || { tail -40 "$log" >&2; fail "index job $job_id: no '$expected' in its log"; }
done
for f in embeddings.npy meta.jsonl errors.jsonl; do
  cmp "$tmp/corpus/$f" "$tmp/out-index-stop/$f" || fail "index job $job_id: $f differs from mpirun's build"
done
say "sbatch index job $job_id: stopped on USR1 ($(grep -o "stopped on SIGUSR1: [0-9]* of 2000" "$log")" \
  "lines), requeued, resumed: the same corpus ($((SECONDS - started)) s)"

# A time limit under twice the warning: Slurm would warn at once, so the script ignores USR1
# (here sent by hand mid-run) and the job runs to its end.
started=$SECONDS
warn_run eleanor-short --time=00:02:00
grep -q "the time limit (120 s) is under twice the 300 s warning: USR1 is ignored" "$log" ||
  { head -5 "$log" >&2; fail "short job $job_id: the script did not say it ignores the warning"; }
! grep -q "stopped on" "$log" || fail "short job $job_id stopped on the warning"
say "sbatch job $job_id (--time=00:02:00): the warning ignored, the job ran to its end ($((SECONDS - started)) s)"

# ---- a mis-launch: srun without PMIx starts two singletons; they must not run the job ----
rc=0
timeout 120 srun --mpi=none --ntasks=2 --cpus-per-task=1 --kill-on-bad-exit=1 "$bin/eleanor-worker" \
  "${job_args[@]}" --set job.output="$tmp/out-singletons" >"$tmp/singletons.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || { cat "$tmp/singletons.log" >&2; fail "srun --mpi=none: the singletons succeeded"; }
[ "$rc" -ne 124 ] || fail "srun --mpi=none: still running after 120 s"
[ ! -e "$tmp/out-singletons/results.jsonl" ] || fail "srun --mpi=none: the singletons wrote results"
grep -qiE "srun --mpi=pmix|SLURM's PMI support|singleton" "$tmp/singletons.log" ||
  { cat "$tmp/singletons.log" >&2; fail "srun --mpi=none: no message saying what happened"; }
say "srun --mpi=none (singletons): refused with exit $rc, no results"
say "PASS"
