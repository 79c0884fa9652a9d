#!/usr/bin/env bash
# Faults: a rank killed (SIGKILL) or stalled (SIGSTOP) mid-job ends the job on every rank with
# a non-zero exit within comm.timeout_s + 10 s and a message naming that rank; a whole job
# killed mid-run resumes to byte-identical results; a second job into a running job's output
# folder is refused; a resume with another input, config or world size refuses, saying why.
source "$(dirname "$0")/common.bash" "$@"

ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$src/data/sample/precedents.jsonl" \
  --out "$work/corpus" --set logging.level=warn >/dev/null
cp "$src/data/sample/cases.jsonl" "$work/cases.jsonl"
job=(--config "$config" --set logging.level=warn --set job.precedents="$work/corpus"
     --set job.input="$work/cases.jsonl" --set job.batch_size=8 --set job.checkpoint_interval_s=0)
timeout_s=5

# fault SIGNAL RANK NAME: runs a slowed 3-rank job, sends SIGNAL to RANK mid-job; checks the exit.
# 21 rounds of 0.5 s: the signal goes after round 2, and the job ends there, so the slow rounds
# cost nothing but leave ~9 s for a poll that lags under load (at 0.15 s a round, a SIGSTOP
# once landed after the victim's last collective and the job ended 0).
fault() {
  local signal="$1" victim="$2" name="$3" out="$work/$3"
  ELEANOR_FAULT_ROUND_DELAY_MS=500 ranks 3 "$bin/eleanor-worker" run "${job[@]}" \
    --set job.output="$out" --set comm.timeout_s=$timeout_s >"$work/$name.log" 2>&1 &
  local launcher=$!
  wait_rounds "$out" 2
  local pid; pid=$(rank_pid "$victim" "$out") || fail "$name: no process for rank $victim"
  local start=$SECONDS
  kill "-$signal" "$pid"
  local rc=0
  wait "$launcher" || rc=$?
  local took=$((SECONDS - start))
  kill -CONT "$pid" 2>/dev/null || true
  [ "$rc" -ne 0 ] || fail "$name: the job exited 0 after rank $victim got SIG$signal"
  [ "$took" -le $((timeout_s + 10)) ] || fail "$name: the job took $took s to end (bound $((timeout_s + 10)) s)"
  if pgrep -f "job.output=$out" >/dev/null; then fail "$name: a rank is still running"; fi
  echo "$name: exit $rc after $took s"
}

fault KILL 1 killed
grep -qE "rank 1 .*(exited on signal 9|Killed)|rank 1/3" "$work/killed.log" ||
  { tail -20 "$work/killed.log"; fail "killed: no message names rank 1"; }

fault STOP 2 stalled
grep -q "rank 2/3 ([^)]*) never reached it" "$work/stalled.log" ||
  { tail -20 "$work/stalled.log"; fail "stalled: rank 0's message does not name rank 2"; }
grep -q "rank 0/3" "$work/stalled.log" || fail "stalled: the report is not from rank 0"

# Resume: an uninterrupted run, then one killed mid-run and resumed (32 rounds of 0.6 s: time
# for the two refusals below before it ends).
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/full" >/dev/null
ELEANOR_FAULT_ROUND_DELAY_MS=600 ranks 2 "$bin/eleanor-worker" run "${job[@]}" \
  --set job.output="$work/resumed" >/dev/null 2>&1 &
launcher=$!
wait_rounds "$work/resumed" 4
# A second job into the folder of a running one (a resubmission, a --resume typed beside it) is
# refused naming the running job's rank 0, and leaves its staging alone (the resume below ends
# byte-identical); the kill then releases the lock with the process, so the resume starts.
root_pid=$(rank_pid 0 "$work/resumed") || fail "no process for rank 0 of the slowed run"
for again in "" --resume; do
  expect_fail 2 "job.output '$work/resumed' is in use by another job \(pid $root_pid on " -- \
    ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" $again
done
[ -s "$work/resumed/.eleanor-lock" ] || fail "the running job's lock file is missing or empty"
doctor_out=$("$bin/eleanor-worker" doctor "${job[@]}" --set job.output="$work/resumed" 2>&1) &&
  fail "doctor found no problem in a running job's folder"
grep -q "^  output  *PROBLEM: '$work/resumed' is in use by another job (pid $root_pid on " <<<"$doctor_out" ||
  fail "doctor does not name the running job: $(grep output <<<"$doctor_out")"
pkill -9 -f "job.output=$work/resumed" || true
wait "$launcher" 2>/dev/null || true
[ ! -e "$work/resumed/results.jsonl" ] || fail "the killed run must not have finished"
# The killed run's lock file stays, unlocked: doctor sees no job in the folder, only its staging.
grep -q "^  output  *$work/resumed: holds an unfinished run with a checkpoint: \`run --resume\` continues it" \
  <<<"$("$bin/eleanor-worker" doctor "${job[@]}" --set job.output="$work/resumed" 2>&1)" ||
  fail "doctor does not see the killed run's checkpoint (or sees a holder)"

# Refusals first: each leaves the unfinished run as it was. A new run (no --resume) that stops
# at start-up (here: another embedder dimension than the corpus's) must not have discarded it.
expect_fail 2 "has dimension 384 but the embedder produces 128" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" --set embedder.dim=128
expect_fail 2 "the run began on 2 ranks and this one has 3: resume on 2 ranks" -- \
  ranks 3 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" --resume
expect_fail 2 "settings that decide the results changed" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" --resume \
    --set job.top_k=5
cp -p "$work/cases.jsonl" "$work/cases.saved"
echo '{"id": "extra", "text": "one more"}' >>"$work/cases.jsonl"
expect_fail 2 "the input file changed since the run began" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" --resume
cp -p "$work/cases.saved" "$work/cases.jsonl"

ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" --resume \
  --set logging.level=info 2>"$work/resume.log" >/dev/null ||
  { grep -E "error|cannot" "$work/resume.log"; fail "resume failed"; }
grep -q "resuming after" "$work/resume.log" || fail "the resumed run did not say what it skipped"
cmp "$work/full/results.jsonl" "$work/resumed/results.jsonl" || fail "resumed results differ"
cmp "$work/full/errors.jsonl" "$work/resumed/errors.jsonl" || fail "resumed errors differ"
[ ! -e "$work/resumed/.eleanor-partial" ] || fail "the staging folder outlived the commit"
[ ! -e "$work/resumed/.eleanor-lock" ] || fail "the lock file outlived the job"
expect_fail 2 "nothing to resume" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/resumed" --resume
echo "faults: kill and stall end the job naming the rank; resume is byte-identical"
