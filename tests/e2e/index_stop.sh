#!/usr/bin/env bash
# Stopping and resuming `index`: SIGUSR1 to eleanor-launch stops a build at a round's end on
# every rank with exit 75 and rank 0's message; a rank killed outright loses only what it had
# not committed; `--resume` (or `--resume-if-unfinished`) then ends with the corpus an
# uninterrupted build writes, byte for byte, bad lines included. A resume with other ranks or
# another embedder is refused, naming which.
source "$(dirname "$0")/common.bash" "$@"

# The sample with bad lines and a blank one among the good: 2003 lines.
awk 'NR == 5 { print "not json" } NR == 777 { print "{\"id\": \"x\", \"text\": \"no decision\"}" }
     NR == 1500 { print "" } { print }' "$src/data/sample/precedents.jsonl" >"$work/precedents.jsonl"
index=(--config "$config" --input "$work/precedents.jsonl" --set logging.level=warn
       --set job.batch_size=100)
ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$work/full" >/dev/null
[ "$(wc -l <"$work/full/errors.jsonl")" -eq 2 ] || fail "the uninterrupted build must have 2 bad lines"

same_corpus() {  # same_corpus DIR WHAT
  for f in embeddings.npy meta.jsonl errors.jsonl; do
    cmp "$work/full/$f" "$1/$f" || fail "$2: $f differs from the uninterrupted build's"
  done
  [ ! -e "$1/.eleanor-index-partial" ] || fail "$2: the staging folder was not removed"
}

# 1. SIGUSR1 to the pid eleanor-launch printed (mpirun by then), after 2 rounds of each rank;
# before it, a second build into the running one's folder (a requeued copy of the job) is
# refused, naming the running build's rank 0 (rounds of 1.5 s: the refusal takes 1-2 s).
out="$work/stopped"
ELEANOR_FAULT_ROUND_DELAY_MS=1500 "$bin/eleanor-launch" --np 2 -- index "${index[@]}" --out "$out" \
  --set job.checkpoint_interval_s=3600 --set logging.level=info \
  --set logging.progress_interval_s=0.1 >"$work/stop.log" 2>&1 &
launcher=$!
wait_progress "$work/stop.log" 400 30
root_pid=$(rank_pid 0 "$out") || fail "no process for rank 0 of the build"
expect_fail 2 "--out '$out' is in use by another job \(pid $root_pid on " -- \
  ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$out" --resume-if-unfinished
kill -USR1 "$(launch_stop_pid "$work/stop.log")"
rc=0
wait "$launcher" || rc=$?
[ "$rc" -eq 75 ] || { tail -20 "$work/stop.log"; fail "stop: exit $rc, expected 75"; }
grep -q "stopped on SIGUSR1: [0-9]* of 2003 lines of $work/precedents.jsonl are indexed and committed in $out/.eleanor-index-partial; run the same command with --resume to finish the index" "$work/stop.log" ||
  { tail -20 "$work/stop.log"; fail "stop: rank 0 did not say what it committed and how to resume"; }
done_lines=$(sed -n 's/.*stopped on SIGUSR1: \([0-9]*\) of 2003 lines.*/\1/p' "$work/stop.log")
[ "$done_lines" -ge 400 ] && [ "$done_lines" -lt 2003 ] ||
  fail "stop: $done_lines lines committed; expected the 400 or more done before the signal, not all"
[ ! -e "$out/embeddings.npy" ] || fail "stop: a stopped build must not have written the corpus"

# Refusals leave the staging as it was.
expect_fail 2 "cannot resume the index build in $out: the build began on 2 ranks and this one has 3: resume on 2 ranks" -- \
  ranks 3 "$bin/eleanor-worker" index "${index[@]}" --out "$out" --resume
expect_fail 2 "cannot resume the index build in $out: the embedder .* changed since the build began" -- \
  ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$out" --resume --set embedder.dim=256
ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$out" --resume --set logging.level=info \
  2>"$work/resume.log" >/dev/null || { tail -20 "$work/resume.log"; fail "stop: the resume failed"; }
grep -q "resuming the index build: $done_lines of 2003 lines already done" "$work/resume.log" ||
  fail "stop: the resume did not start after the $done_lines committed lines"
same_corpus "$out" "stop"

# 2. Rank 1 killed outright, committing every third round or so (what it appended since is on
# disk, uncommitted, most of the time): a killed build, resumed as a requeued batch job is
# (--resume-if-unfinished). IndexStagingTest checks the cut at every block.
out="$work/killed"
ELEANOR_FAULT_ROUND_DELAY_MS=300 ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$out" \
  --set job.checkpoint_interval_s=0.7 --set logging.level=info --set logging.progress_interval_s=0.1 \
  >"$work/kill.log" 2>&1 &
job=$!
wait_progress "$work/kill.log" 1000 30  # the first commit comes after 2 or 3 rounds
kill -KILL "$(rank_pid 1 "$out")"
rc=0
wait "$job" || rc=$?
[ "$rc" -ne 0 ] || fail "kill: the build survived a killed rank"
ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$out" --resume-if-unfinished \
  --set logging.level=info 2>"$work/kill.resume.log" >/dev/null ||
  { tail -20 "$work/kill.resume.log"; fail "kill: the resume failed"; }
grep -q "holds an unfinished index build: resuming it" "$work/kill.resume.log" ||
  fail "kill: --resume-if-unfinished did not resume"
kill_done=$(sed -n 's/.*resuming the index build: \([0-9]*\) of 2003 lines already done.*/\1/p' "$work/kill.resume.log")
[ "${kill_done:-0}" -gt 0 ] || fail "kill: the resume found nothing committed"
same_corpus "$out" "kill"

# 3. --resume-if-unfinished where nothing is unfinished builds afresh; --resume refuses.
expect_fail 2 "nothing to resume: '$work/fresh/.eleanor-index-partial' holds no unfinished index build" -- \
  ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$work/fresh" --resume
ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$work/fresh" --resume-if-unfinished \
  >/dev/null || fail "fresh: --resume-if-unfinished on a new folder failed"
same_corpus "$work/fresh" "fresh"
expect_fail 2 "--resume excludes --resume-if-unfinished" -- \
  "$bin/eleanor-worker" index "${index[@]}" --out "$work/fresh" --resume --resume-if-unfinished
echo "index_stop: stopped after $done_lines of 2003 lines (exit 75), killed with $kill_done committed; both resumed to the same corpus"
