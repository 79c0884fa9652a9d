#!/usr/bin/env bash
# A full disk (or a quota) under job.output: the job stops with exit 2 and a message from rank 0
# naming the file, the reason, the stage ('write') and what to do; the rounds committed before
# are kept, and once there is room `--resume` ends byte-identical to an uninterrupted run; the
# same where only the final copy into results.jsonl found no room. A job whose first round could
# not be written says to run again instead; `index` the same. The output folder is a
# small tmpfs (root; skipped, exit 77, where mounting is not allowed).
source "$(dirname "$0")/common.bash" "$@"

mkdir -p "$work/small"
if ! mount -t tmpfs -o size=48k tmpfs "$work/small" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)"
  exit 77
fi
trap 'umount "$work/small" 2>/dev/null; rm -rf "$work"' EXIT

ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$src/data/sample/precedents.jsonl" \
  --out "$work/corpus" --set logging.level=warn >/dev/null
job=(--config "$config" --set logging.level=warn --set job.precedents="$work/corpus"
     --set job.input="$src/data/sample/cases.jsonl" --set job.batch_size=16
     --set job.checkpoint_interval_s=0)
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/full" >/dev/null

# 48 KiB hold some rounds (about 1.1 KiB a result line), not all 500 lines. The first committed
# round's projection warns that the rest will not fit, before the disk is full.
expect_fail 2 "rank 0/2 \([^)]*\) failed in stage 'write': cannot write '$work/small/out/.eleanor-partial/rank-0000[01].results.jsonl': No space left on device: make room in $work/small/out \(job.output\) and run the same command with --resume" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/small/out"
grep -qE "job.output '$work/small/out' has [0-9.]+ (KiB|bytes) free, but the rest of this job needs about [0-9.]+ (KiB|MiB) there: at [0-9.]+ (KiB|bytes) a line \(over the 32 lines done\), .* for the remaining 468 lines' rounds, then .* for the final copy" <<<"$expect_fail_output" ||
  { echo "$expect_fail_output" | head -5 >&2; fail "no warning that the rest of the job would not fit"; }
rounds=$(python3 -c "import json; print(json.load(open('$work/small/out/.eleanor-partial/checkpoint.json'))['rounds'])")
[ "$rounds" -ge 1 ] || fail "no round was committed before the disk filled"
mount -o remount,size=8m "$work/small"
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/small/out" --resume >/dev/null ||
  fail "the resume after making room failed"
cmp "$work/full/results.jsonl" "$work/small/out/results.jsonl" || fail "resumed results differ"
cmp "$work/full/errors.jsonl" "$work/small/out/errors.jsonl" || fail "resumed errors differ"

# Room for the staged rounds (about 560 KiB) but not for their copy into results.jsonl: the job
# checkpoints every round before that copy, leaves no half copy behind, and the resume only
# writes the files.
rm -rf "${work:?}/small/out"
mount -o remount,size=700k "$work/small"
expect_fail 2 "stage 'write': cannot write '$work/small/out/results.jsonl.tmp': No space left on device: make room .* --resume" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/small/out" \
    --set job.checkpoint_interval_s=3600
[ -z "$(ls "$work/small/out")" ] || fail "the failed copy left $(ls "$work/small/out") in the output folder"
mount -o remount,size=8m "$work/small"
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/small/out" --resume \
  --set logging.level=info 2>"$work/final.log" >/dev/null || fail "the resume after the failed copy failed"
grep -q "500 of 500 lines already done" "$work/final.log" || fail "the resume did not find every round committed"
cmp "$work/full/results.jsonl" "$work/small/out/results.jsonl" || fail "results after the failed copy differ"

# No room for the first round: nothing to resume, and the message says so.
rm -rf "${work:?}/small/out"
mount -o remount,size=12k "$work/small"
expect_fail 2 "No space left on device: make room in $work/small/out \(job.output\) and run the same command again \(no round was committed yet\)" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/small/out" --set job.batch_size=64
# index: the staging (3.6 MiB for the sample) fills 2 MiB mid-build; 5 MiB hold it but not the
# corpus copied out of it. Each time: the file and what to do named, no half-written corpus
# left, and --resume ends with the corpus an uninterrupted build writes.
index=(--config "$config" --input "$src/data/sample/precedents.jsonl" --set logging.level=warn
       --set job.batch_size=100 --set job.checkpoint_interval_s=0)
umount "$work/small"
mount -t tmpfs -o size=2m tmpfs "$work/small"
expect_fail 2 "stage 'write': cannot write '$work/small/corpus/.eleanor-index-partial/rank-0000[01].[a-z0-9.]*': No space left on device: make room in $work/small/corpus and run the same command with --resume" -- \
  ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$work/small/corpus"
grep -qE -- "--out '$work/small/corpus' has [0-9.]+ (MiB|KiB|bytes) free, but the rest of this job needs about [0-9.]+ MiB there: at [0-9.]+ KiB a line \(over the [0-9]+ lines done\), .* then [0-9.]+ MiB for the final copy into embeddings.npy, meta.jsonl and errors.jsonl" <<<"$expect_fail_output" ||
  { echo "$expect_fail_output" | head -5 >&2; fail "index: no warning that the rest of the build would not fit"; }
mount -o remount,size=5m "$work/small"
expect_fail 2 "stage 'write': cannot write '$work/small/corpus/(embeddings.npy|meta.jsonl).tmp': No space left on device: make room .* --resume" -- \
  ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$work/small/corpus" --resume
[ ! -e "$work/small/corpus/embeddings.npy.tmp" ] && [ ! -e "$work/small/corpus/meta.jsonl.tmp" ] ||
  fail "index: the failed copy left a temporary file"
mount -o remount,size=16m "$work/small"
ranks 2 "$bin/eleanor-worker" index "${index[@]}" --out "$work/small/corpus" --resume \
  --set logging.level=info 2>"$work/index.log" >/dev/null || fail "index: the resume after making room failed"
grep -q "resuming the index build: 2000 of 2000 lines already done" "$work/index.log" ||
  fail "index: the resume did not find every line committed"
for f in embeddings.npy meta.jsonl errors.jsonl; do
  cmp "$work/corpus/$f" "$work/small/corpus/$f" || fail "index: resumed $f differs"
done
echo "disk_full: a full output disk stops the job (and index) saying what to do; after $rounds committed rounds, --resume ends byte-identical"
