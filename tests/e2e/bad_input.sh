#!/usr/bin/env bash
# Bad input loses nothing: a malformed line lands in errors.jsonl with its number and reason
# and every other case in results.jsonl; setup errors stop the job with a message naming the
# key, path or dimension.
source "$(dirname "$0")/common.bash" "$@"

three_precedent_corpus 2

printf '%s\n' \
  '{"id": "c1", "text": "What is the capital of France?", "output": "Paris."}' \
  '{"id": "c2", "text": "broken' \
  '{"id": "c3", "text": "hello", "output": "hi there"}' \
  '' \
  '{"text": "no id here"}' \
  '{"id": "c6", "text": 42}' \
  '{"id": "c7", "text": "last one", "output": "fine"}' >"$work/cases.jsonl"

for w in 1 3; do
  ranks "$w" "$bin/eleanor-worker" run --config "$config" --set logging.level=warn \
    --set job.input="$work/cases.jsonl" --set job.precedents="$work/corpus" \
    --set job.output="$work/out$w" >/dev/null
  ids=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["id"] for l in open(sys.argv[1])))' "$work/out$w/results.jsonl")
  [ "$ids" = "c1 c3 c7" ] || fail "W=$w: results hold '$ids', expected 'c1 c3 c7'"
  python3 - "$work/out$w/errors.jsonl" <<'PY' || fail "W=$w: errors.jsonl is wrong"
import json, sys
errors = [json.loads(l) for l in open(sys.argv[1])]
assert [e["line"] for e in errors] == [2, 5, 6], errors
assert errors[0]["reason"].startswith("malformed JSON"), errors[0]
assert errors[1]["reason"] == 'missing required field "id"', errors[1]
assert errors[2]["id"] == "c6" and "must be a string" in errors[2]["reason"], errors[2]
PY
done

# Setup errors: exit 2, one clear message.
expect_fail 2 "unknown key 'job.bach_size'" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.bach_size=3
cp -r "$src/config" "$work/config"
sed -i 's/top_k: 10 /top_k: ten/' "$work/config/eleanor.yaml"
line=$(grep -n "top_k: ten" "$work/config/eleanor.yaml" | cut -d: -f1)
expect_fail 2 "config/eleanor.yaml:$line: key 'job.top_k': expected an integer, got 'ten'" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$work/config/eleanor.yaml"
expect_fail 2 "cannot open '$work/missing.jsonl'" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.input="$work/missing.jsonl" \
    --set job.precedents="$work/corpus" --set job.output="$work/out-missing"
expect_fail 2 "has dimension 384 but the embedder produces 128 \(embedder.dim\)" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.input="$work/cases.jsonl" \
    --set job.precedents="$work/corpus" --set job.output="$work/out-dim" --set embedder.dim=128
[ ! -e "$work/out-dim/results.jsonl" ] || fail "a failed setup must not write results"
echo "bad input: errors.jsonl lines 2,5,6; results c1,c3,c7; setup errors named"
