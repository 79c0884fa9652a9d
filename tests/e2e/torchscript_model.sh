#!/usr/bin/env bash
# A TorchScript embedder and model critics through the real binaries: a tiny BERT-shaped model,
# its vocab.txt and two critic heads made by eleanor-test-model (no download); the corpus is
# indexed with the model at W=2 and the job's results.jsonl is byte-identical at W = 1..4 and
# batch sizes 5 and 256, and with 1 or 3 threads. Start-up refuses a wrong embedder.dim and a corpus of another
# dimension, naming both dimensions. A model that returns NaN for some texts sends those
# precedents and cases to errors.jsonl and keeps the rest.
source "$(dirname "$0")/common.bash" "$@"

"$bin/eleanor-test-model" --out "$work/model" --words-from "$src/data/sample/precedents.jsonl" \
  --heads >/dev/null
model=(--set embedder.type=torchscript --set embedder.model="$work/model/model.pt"
  --set embedder.vocab="$work/model/vocab.txt" --set embedder.dim=32 --set embedder.batch_size=16
  --set "critics.models={truth: {model: $work/model/heads/truth.pt}, fairness: {model: $work/model/heads/fairness.pt, combine: weighted, weight: 0.5}}"
  --set logging.level=warn)

ranks 2 "$bin/eleanor-worker" index --config "$config" "${model[@]}" \
  --input "$src/data/sample/precedents.jsonl" --out "$work/corpus" >/dev/null
grep -q '"embedder": "torchscript model=model.pt' "$work/corpus/index.json" ||
  fail "the corpus index.json does not name the model: $(cat "$work/corpus/index.json")"

run() {  # run W BATCH
  ranks "$1" "$bin/eleanor-worker" run --config "$config" "${model[@]}" \
    --set job.precedents="$work/corpus" --set job.input="$src/data/sample/cases.jsonl" \
    --set job.output="$work/out-$1-$2" --set job.batch_size="$2" >/dev/null
}
run 1 256
cases=$(grep -c . "$src/data/sample/cases.jsonl")
lines=$(wc -l <"$work/out-1-256/results.jsonl")
[ "$lines" -eq "$cases" ] || fail "W=1 wrote $lines results for $cases cases"
for w in 2 3 4; do
  for b in 5 256; do
    run "$w" "$b"
    cmp "$work/out-1-256/results.jsonl" "$work/out-$w-$b/results.jsonl" ||
      fail "results differ: W=$w batch=$b vs W=1 batch=256"
  done
done
# On the CPU the model calls run side by side on the intra-op threads, OpenBLAS on each
# calling thread: three threads give the same bytes as one.
OMP_NUM_THREADS=3 run 1 64
cmp "$work/out-1-256/results.jsonl" "$work/out-1-64/results.jsonl" ||
  fail "results differ with OMP_NUM_THREADS=3"
# The model critics took part: some truth or fairness severity is not a rule critic's value
# (rule severities are multiples of 0.25 in critics.yaml's weights; a head's are not).
python3 - "$work/out-1-256/results.jsonl" <<'PY' || fail "no case carries a model critic's severity"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    for name in ("truth", "fairness"):
        s = r["critics"][name]["severity"]
        if abs(s * 4 - round(s * 4)) > 1e-9:
            sys.exit(0)
sys.exit(1)
PY

expect_fail 2 "embedder.dim is 48 but the model .*model.pt returns 32-dimensional embeddings" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" "${model[@]}" --set embedder.dim=48 \
  --set job.precedents="$work/corpus" --set job.output="$work/bad-dim"
ranks 1 "$bin/eleanor-worker" index --config "$config" --set logging.level=warn \
  --input "$src/data/sample/precedents.jsonl" --out "$work/hashing-corpus" >/dev/null
expect_fail 2 "embeddings.npy' has dimension 384 but the embedder produces 32" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" "${model[@]}" \
  --set job.precedents="$work/hashing-corpus" --set job.output="$work/bad-corpus"
# A model that returns NaN for texts holding '^': that precedent and those cases go to
# errors.jsonl with the reason; every other one is indexed and decided.
"$bin/eleanor-test-model" --out "$work/nan-model" --nan-for '^' --heads \
  --words-from "$src/data/sample/precedents.jsonl" >/dev/null
nan_model=(--set embedder.type=torchscript --set embedder.model="$work/nan-model/model.pt"
  --set embedder.vocab="$work/nan-model/vocab.txt" --set embedder.dim=32 --set logging.level=warn)
python3 - "$src/data/sample" "$work" <<'PY'
import json, sys
src, work = sys.argv[1], sys.argv[2]
for name, count, poisoned in (("precedents", 40, {7}), ("cases", 30, {4, 17})):
    with open(f"{work}/nan-{name}.jsonl", "w") as out:
        for number, line in enumerate(open(f"{src}/{name}.jsonl"), 1):
            if number > count:
                break
            record = json.loads(line)
            if number in poisoned:
                record["text"] += " ^"
            out.write(json.dumps(record) + "\n")
PY
ranks 2 "$bin/eleanor-worker" index --config "$config" "${nan_model[@]}" \
  --input "$work/nan-precedents.jsonl" --out "$work/nan-corpus" >/dev/null
ranks 2 "$bin/eleanor-worker" run --config "$config" "${nan_model[@]}" \
  --set job.precedents="$work/nan-corpus" --set job.input="$work/nan-cases.jsonl" \
  --set job.output="$work/nan-out" --set job.batch_size=8 >/dev/null
# And a head that returns NaN for some embeddings: those cases go to errors.jsonl too.
ranks 2 "$bin/eleanor-worker" run --config "$config" "${nan_model[@]}" \
  --set "critics.models={truth: {model: $work/nan-model/heads/nan.pt}}" \
  --set job.precedents="$work/nan-corpus" --set job.input="$work/nan-cases.jsonl" \
  --set job.output="$work/nan-head-out" --set job.batch_size=8 >/dev/null
python3 - "$work" <<'PY' || fail "non-finite embeddings or severities were not sent to errors.jsonl"
import json, sys
work = sys.argv[1]
reason = "the embedder (torchscript) returned a non-finite embedding (NaN or infinity)"
def errors(path):
    return [json.loads(l) for l in open(path)]
index_errors = errors(f"{work}/nan-corpus/errors.jsonl")
assert [e["line"] for e in index_errors] == [7], index_errors
assert index_errors[0]["reason"].startswith(reason), index_errors
assert sum(1 for _ in open(f"{work}/nan-corpus/meta.jsonl")) == 39
job_errors = errors(f"{work}/nan-out/errors.jsonl")
assert [e["line"] for e in job_errors] == [4, 17], job_errors
assert all(e["reason"].startswith(reason) for e in job_errors), job_errors
assert [e["id"] for e in job_errors] == ["c0004", "c0017"], job_errors
results = [json.loads(l)["id"] for l in open(f"{work}/nan-out/results.jsonl")]
assert results == [f"c{n:04d}" for n in range(1, 31) if n not in (4, 17)], results
# With the NaN head: every case in exactly one file, the embedder's two as before, some of the
# rest refused by the head, and the head's 1.5 in every result (combined by max).
head_errors = errors(f"{work}/nan-head-out/errors.jsonl")
head_results = [json.loads(l) for l in open(f"{work}/nan-head-out/results.jsonl")]
ids = sorted([e["id"] for e in head_errors] + [r["id"] for r in head_results])
assert ids == [f"c{n:04d}" for n in range(1, 31)], ids
by_head = [e for e in head_errors if e["line"] not in (4, 17)]
assert by_head and len(head_results) > 0, (head_errors, len(head_results))
assert all(e["reason"].startswith("critics.models.truth (") and " returned nan " in e["reason"]
           for e in by_head), by_head
assert all(r["critics"]["truth"]["severity"] >= 1.5 for r in head_results), head_results
PY
echo "torchscript model: results.jsonl identical for W=1..4 x batch 5,256 ($lines cases); dimension mismatches refused"
