#!/usr/bin/env bash
# Stopping on request: SIGUSR1 to eleanor-launch (at the pid it printed; by then mpirun, which
# forwards it to every rank) or SIGTERM to one rank only stops the job at the end of a round on
# every rank, with exit 75 and a message from rank 0 saying what is committed and how to
# resume; `--resume` then finishes it with the same bytes as an uninterrupted run. Ctrl-C twice ends a worker at once. A job that gets no signal
# is unaffected (the other e2e tests).
source "$(dirname "$0")/common.bash" "$@"

ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$src/data/sample/precedents.jsonl" \
  --out "$work/corpus" --set logging.level=warn >/dev/null
job=(--config "$config" --set logging.level=warn --set job.precedents="$work/corpus"
     --set job.input="$src/data/sample/cases.jsonl" --set job.batch_size=8
     --set job.checkpoint_interval_s=3600)  # only the stop commits: rounds > 0 come from it
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/full" >/dev/null

# stop RANKS NAME SIGNAL TARGET RESUME: a slowed job on RANKS ranks; after its first rounds,
# SIGNAL goes to TARGET (launcher, or rank N); the job must stop with 75, committed, and the
# RESUME flag (--resume or --resume-if-unfinished) must finish it with the same bytes.
stop() {
  local np="$1" name="$2" signal="$3" target="$4" resume="$5" out="$work/$2"
  local start=(ranks "$np" "$bin/eleanor-worker")
  [ "$target" = launcher ] && start=("$bin/eleanor-launch" --np "$np" -- )
  ELEANOR_FAULT_ROUND_DELAY_MS=300 "${start[@]}" run "${job[@]}" \
    --set job.output="$out" --set logging.level=info --set logging.progress_interval_s=0.1 \
    >"$work/$name.log" 2>&1 &
  local launcher=$!
  # No checkpoint before the stop (the interval is an hour): rank 0's progress lines say when
  # two rounds are done.
  wait_progress "$work/$name.log" $((2 * 8 * np)) 30
  if [ "$target" = launcher ]; then  # as its first lines say (its pid is mpirun's)
    local pid
    pid="$(launch_stop_pid "$work/$name.log")"
    kill "-$signal" "$pid"
  else
    kill "-$signal" "$(rank_pid "$target" "$out")"
  fi
  local rc=0
  wait "$launcher" || rc=$?
  [ "$rc" -eq 75 ] || { tail -20 "$work/$name.log"; fail "$name: exit $rc, expected 75"; }
  grep -q "stopped on SIG$signal: [0-9]* of 500 lines are done .* committed in $out/.eleanor-partial after [0-9]* rounds; run the same command with --resume" "$work/$name.log" ||
    { tail -20 "$work/$name.log"; fail "$name: rank 0 did not say what it committed and how to resume"; }
  [ "$(grep -c "stopped on" "$work/$name.log")" -eq 1 ] || fail "$name: the message must come once (rank 0)"
  [ ! -e "$out/results.jsonl" ] || fail "$name: a stopped run must not have finished"
  local rounds
  rounds=$(python3 -c "import json; print(json.load(open('$out/.eleanor-partial/checkpoint.json'))['rounds'])")
  [ "$rounds" -ge 2 ] && [ "$rounds" -lt $((500 / (8 * np))) ] ||
    fail "$name: $rounds rounds committed; expected the 2 or more done before the signal, not all"
  ranks "$np" "$bin/eleanor-worker" run "${job[@]}" --set job.output="$out" "$resume" \
    --set logging.level=info 2>"$work/$name.resume.log" >/dev/null ||
    { tail -20 "$work/$name.resume.log"; fail "$name: resume failed"; }
  grep -q "resuming after $rounds committed rounds" "$work/$name.resume.log" ||
    fail "$name: the resume did not start after the $rounds committed rounds"
  cmp "$work/full/results.jsonl" "$out/results.jsonl" || fail "$name: resumed results differ"
  # The report counts the lines found done, and its rate only this run's cases.
  local done_before
  done_before=$(sed -n 's/.*stopped on SIG[A-Z0-9]*: \([0-9]*\) of 500 lines.*/\1/p' "$work/$name.log")
  python3 - "$out/report.json" "$done_before" <<'PY' || fail "$name: report.json after the resume"
import json, sys
r = json.load(open(sys.argv[1]))
before = int(sys.argv[2])
assert r["counts"]["resumed_lines"] == before, (r["counts"], before)
this_run = r["counts"]["results"] - before  # the sample has no bad lines
rate_cases = r["cases_per_second"] * (r["seconds"] - r["setup_seconds"])
assert abs(rate_cases - this_run) < 1, f"cases/s covers {rate_cases:.1f} cases, this run did {this_run}"
PY
  cmp "$work/full/errors.jsonl" "$out/errors.jsonl" || fail "$name: resumed errors differ"
  echo "$name: exit 75 after $rounds rounds; resumed to the same bytes"
}

stop 2 usr1-to-launcher USR1 launcher --resume  # kill -USR1 to eleanor-launch: mpirun forwards it
# One rank signalled: the others agree at the round's end; resumed as a requeued batch job is.
stop 3 term-to-one-rank TERM 1 --resume-if-unfinished

# --resume-if-unfinished where nothing is unfinished starts a run (and --resume refuses).
expect_fail 2 "nothing to resume" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/fresh" --resume
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/fresh" \
  --resume-if-unfinished --set logging.level=info 2>"$work/fresh.log" >/dev/null ||
  { tail "$work/fresh.log"; fail "--resume-if-unfinished on a new output folder failed"; }
grep -q "no unfinished run with a checkpoint in $work/fresh/.eleanor-partial: starting one" "$work/fresh.log" ||
  fail "--resume-if-unfinished did not say it started a new run"
cmp "$work/full/results.jsonl" "$work/fresh/results.jsonl" || fail "the new run's results differ"
expect_fail 2 "--resume excludes --resume-if-unfinished" -- \
  "$bin/eleanor-worker" run "${job[@]}" --resume --resume-if-unfinished

# Ctrl-C twice on a worker started by hand: the second SIGINT ends it at once.
# Rounds of 5 s: both land in the same round (a signal sent twice at once is delivered once).
ELEANOR_FAULT_ROUND_DELAY_MS=5000 "$bin/eleanor-worker" run "${job[@]}" \
  --set job.output="$work/ctrl-c" --set logging.level=info >"$work/ctrl-c.log" 2>&1 &
worker=$!
for _ in $(seq 1 300); do  # set up (its last line names the input): the handlers are in place
  grep -q "\] input .* lines" "$work/ctrl-c.log" && break
  sleep 0.1
done
grep -q "\] input .* lines" "$work/ctrl-c.log" || fail "ctrl-c: the worker never finished its set-up"
kill -INT "$worker"
sleep 0.5
kill -INT "$worker"
rc=0
wait "$worker" || rc=$?
[ "$rc" -eq 130 ] || { tail "$work/ctrl-c.log"; fail "ctrl-c twice: exit $rc, expected 130 (SIGINT)"; }
echo "stop_signal: a stop request commits and resumes byte-identical; Ctrl-C twice ends at once"
