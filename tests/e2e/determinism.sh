#!/usr/bin/env bash
# results.jsonl and errors.jsonl are byte-identical for W = 1..4 ranks and batch sizes 1, 7,
# 256, and whatever the CPU search scores in; the corpus built by `index` is byte-identical for
# W = 1 and 3.
source "$(dirname "$0")/common.bash" "$@"

ranks 1 "$bin/eleanor-worker" index --config "$config" --input "$src/data/sample/precedents.jsonl" \
  --out "$work/corpus1" --set logging.level=warn >/dev/null
ranks 3 "$bin/eleanor-worker" index --config "$config" --input "$src/data/sample/precedents.jsonl" \
  --out "$work/corpus3" --set logging.level=warn >/dev/null
for f in embeddings.npy meta.jsonl; do
  cmp "$work/corpus1/$f" "$work/corpus3/$f" || fail "index: $f differs between W=1 and W=3"
done

run() {  # run W BATCH
  ranks "$1" "$bin/eleanor-worker" run --config "$config" --set logging.level=warn \
    --set job.precedents="$work/corpus1" --set job.input="$src/data/sample/cases.jsonl" \
    --set job.output="$work/out-$1-$2" --set job.batch_size="$2" >/dev/null
}
run 1 256
lines=$(wc -l <"$work/out-1-256/results.jsonl")
cases=$(grep -c . "$src/data/sample/cases.jsonl")
[ "$lines" -eq "$cases" ] || fail "W=1 wrote $lines results for $cases cases"
for w in 1 2 3 4; do
  for b in 1 7 256; do
    [ "$w" -eq 1 ] && [ "$b" -eq 256 ] && continue
    run "$w" "$b"
    cmp "$work/out-1-256/results.jsonl" "$work/out-$w-$b/results.jsonl" ||
      fail "results differ: W=$w batch=$b vs W=1 batch=256"
    cmp "$work/out-1-256/errors.jsonl" "$work/out-$w-$b/errors.jsonl" ||
      fail "errors differ: W=$w batch=$b"
  done
done
# A corpus smaller than k and than W: at W = 4 one shard is empty, and every case's top k
# comes from rows held by other ranks (the metadata fetched from them).
three_precedent_corpus 1
for w in 1 4; do
  ranks "$w" "$bin/eleanor-worker" run --config "$config" --set logging.level=warn \
    --set job.precedents="$work/corpus" --set job.input="$src/data/sample/cases.jsonl" \
    --set job.output="$work/tiny-$w" >/dev/null 2>&1
done
cmp "$work/tiny-1/results.jsonl" "$work/tiny-4/results.jsonl" ||
  fail "results differ on a 3-row corpus: W=4 vs W=1"
grep -q '"precedents":\[{' "$work/tiny-4/results.jsonl" || fail "a 3-row corpus gave no precedents"
# Each rank builds its cases' result lines on its threads: one thread, and three, give the
# same bytes.
for t in 1 3; do
  OMP_NUM_THREADS=$t ranks 1 "$bin/eleanor-worker" run --config "$config" --set logging.level=warn \
    --set job.precedents="$work/corpus1" --set job.input="$src/data/sample/cases.jsonl" \
    --set job.output="$work/out-threads-$t" >/dev/null
  cmp "$work/out-1-256/results.jsonl" "$work/out-threads-$t/results.jsonl" ||
    fail "results differ with OMP_NUM_THREADS=$t"
done
# The CPU search scores in float32 or bfloat16 (AMX, AVX512-BF16; search.cpu_dtype) and
# rescoring makes both exact: the same bytes, with the matmul kernel too.
for s in cpu_dtype=float32 cpu_dtype=bfloat16 kernel=matmul; do
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set logging.level=warn \
    --set job.precedents="$work/corpus1" --set job.input="$src/data/sample/cases.jsonl" \
    --set job.output="$work/out-$s" --set "search.$s" >/dev/null
  cmp "$work/out-1-256/results.jsonl" "$work/out-$s/results.jsonl" ||
    fail "results differ with search.$s"
done
echo "determinism: results.jsonl identical for W=1..4 x batch 1,7,256, 1 or 3 threads, search in float32, bfloat16 or matmul, and a 3-row corpus at W=1 and 4 ($lines cases)"
