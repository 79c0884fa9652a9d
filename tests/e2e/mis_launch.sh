#!/usr/bin/env bash
# A mis-launch stops before any work, with what happened and how to launch: two workers started
# as singletons where Slurm asked for 2 tasks (srun without PMI, or a shell loop), and a worker
# whose mpirun belongs to another MPI (OMPI_COMM_WORLD_SIZE disagrees with the MPI world), and
# ranks that loaded different settings. A rank running another build is found by doctor and
# warned of by a run.
source "$(dirname "$0")/common.bash" "$@"
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(SLURM_|OMPI_COMM_WORLD_)' || true)

worker() {  # worker TAG ENV...: one singleton eleanor-worker with ENV, its output in $work/TAG.log
  local tag="$1"; shift
  env "$@" "$bin/eleanor-worker" run --config "$config" --set job.output="$work/out-$tag" \
    >"$work/$tag.log" 2>&1
}

# N singletons: both start at once, as srun --mpi=none or a loop would start them.
pids=()
for task in 0 1; do
  worker "task$task" SLURM_NTASKS=2 SLURM_PROCID="$task" SLURM_JOB_ID=1 & pids+=($!)
done
for task in 0 1; do
  rc=0; wait "${pids[$task]}" || rc=$?
  [ "$rc" -eq 2 ] || { cat "$work/task$task.log" >&2; fail "singleton task $task: exit $rc, expected 2"; }
  grep -q "Slurm started 2 tasks (SLURM_NTASKS) but each came up as a one-rank MPI world (a singleton)" "$work/task$task.log" ||
    { cat "$work/task$task.log" >&2; fail "singleton task $task: no message saying what happened"; }
  grep -qF "Launch with \`srun --mpi=pmix\`" "$work/task$task.log" ||
    fail "singleton task $task: the message does not say how to launch"
  [ ! -e "$work/out-task$task/results.jsonl" ] || fail "singleton task $task ran the job anyway"
done

rc=0; worker other OMPI_COMM_WORLD_SIZE=3 || rc=$?
[ "$rc" -eq 2 ] || { cat "$work/other.log" >&2; fail "foreign mpirun: exit $rc, expected 2"; }
grep -q "mpirun started 3 ranks (OMPI_COMM_WORLD_SIZE) but this rank's MPI world has 1" "$work/other.log" ||
  { cat "$work/other.log" >&2; fail "foreign mpirun: no message"; }

# Ranks that loaded different settings (an MPMD line with other arguments per rank; config files
# that differ between nodes) stop at start-up, naming the ranks, instead of deciding differently.
expect_fail 2 "the ranks loaded different settings from '$config' .*: [0-9a-f]+; rank 1 \([^)]*\): [0-9a-f]+\)" -- \
  mpirun --oversubscribe --bind-to none \
    -np 1 "$bin/eleanor-worker" run --config "$config" --set job.top_k=5 --set job.output="$work/mpmd" : \
    -np 1 "$bin/eleanor-worker" run --config "$config" --set job.top_k=6 --set job.output="$work/mpmd"
[ ! -e "$work/mpmd" ] || fail "ranks with different settings created the output folder"

# Ranks that read different files at one path (a node with its own, older copy of critics.yaml:
# here rank 1 in a mount namespace where another file is bound over it) stop before any work,
# naming the rules' hashes, instead of judging alike cases differently.
three_precedent_corpus 1
cp -r "$src/config" "$work/config"
{ cat "$work/config/critics.yaml"; echo "# another node's copy"; } >"$work/other-critics.yaml"
models_job=(run --config "$work/config/eleanor.yaml" --set job.precedents="$work/corpus"
            --set job.input="$src/data/sample/cases.jsonl" --set job.output="$work/models")
expect_fail 2 "the ranks loaded different models or rules \(rank 0 \([^)]*\): embedder hashing .*critics.rules xxh64 [0-9a-f]+; rank 1 " -- \
  rank1_sees_other "$work/other-critics.yaml" "$work/config/critics.yaml" "${models_job[@]}"
[ ! -e "$work/models/results.jsonl" ] || fail "ranks with different rules wrote results"

# A rank that runs another build of the worker (here a copy with one byte more: another node's
# install) is a PROBLEM for doctor, which names both builds, and a warning for a run, which goes
# on: this build decides as the other does, so the results are those of one build.
mkdir "$work/other-bin"
cp "$bin/eleanor-worker" "$bin/eleanor-worker-bin" "$work/other-bin/"
printf '\n' >>"$work/other-bin/eleanor-worker-bin"
mixed() {
  mpirun --oversubscribe --bind-to none -np 1 "$bin/eleanor-worker" "$@" : \
    -np 1 "$work/other-bin/eleanor-worker" "$@"
}
build_re="eleanor-dist [^ ]+ \(binary [0-9a-f]{16}\)"
expect_fail 1 "^  build +PROBLEM: the ranks run different eleanor-worker builds \(rank 0 \([^)]*\): $build_re; rank 1 \([^)]*\): $build_re\)" -- \
  mixed doctor --config "$config" --set job.precedents="$work/corpus" --set job.output="$work/doctor-out"
grep -q "^1 problem(s) found" <<<"$expect_fail_output" || fail "doctor found more than the build: $expect_fail_output"
one_job=(run --config "$config" --set job.precedents="$work/corpus" --set logging.level=warn)
mixed "${one_job[@]}" --set job.output="$work/mixed" >"$work/mixed.log" 2>&1 ||
  { tail -20 "$work/mixed.log" >&2; fail "a run with another build on rank 1 failed"; }
grep -qE "\[warning\] .*the ranks do not all run the same build and libraries \(rank 0 \([^)]*\): $build_re, LibTorch .*; rank 1 " \
  "$work/mixed.log" || { tail -20 "$work/mixed.log" >&2; fail "no warning of the other build"; }
ranks 2 "$bin/eleanor-worker" "${one_job[@]}" --set job.output="$work/same" >/dev/null 2>&1 ||
  fail "the 2-rank run of one build failed"
cmp "$work/same/results.jsonl" "$work/mixed/results.jsonl" ||
  fail "the run with another build of the same code gave other results"

# The same worker, launched right, is fine: a two-rank world under mpirun passes the check.
ranks 2 "$bin/eleanor-worker" doctor --config "$config" --set job.precedents="$work/corpus" \
  --set job.output="$work/doctor-out" >"$work/doctor.log" 2>&1 ||
  { cat "$work/doctor.log" >&2; fail "a correct 2-rank launch was refused"; }
echo "mis-launch: singletons and a foreign mpirun stop with exit 2 and what to do; another build is a doctor PROBLEM and a run warning"
