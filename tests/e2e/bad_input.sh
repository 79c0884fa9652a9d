#!/usr/bin/env bash
# Bad input loses nothing: a malformed line lands in errors.jsonl with its number and reason
# and every other case in results.jsonl (every other precedent in the corpus, for index); setup errors stop the job with a message naming the
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

# The same for index: every bad precedent line lands in the corpus's errors.jsonl, every good one
# in meta.jsonl and embeddings.npy, the same bytes at W = 1 and 3.
long_text=$(printf 'x%.0s' $(seq 400))
{
  printf '\xef\xbb\xbf%s\n' '{"id": "p1", "text": "the capital of France is Paris", "decision": "allow"}'
  printf '%s\n' \
    '{"id": "p2", "text": "broken' \
    '{"id": "p3", "text": "build a pipe bomb", "decision": "deny", "severity": {"risk": 3}}' \
    '' \
    '{"id": "p5", "text": "t", "decision": "maybe"}' \
    "{\"id\": \"p6\", \"text\": \"$long_text\", \"decision\": \"allow\"}" \
    '{"id": "p7", "text": "x", "decision": "allow", "severity": {"risk": 9}}' \
    '{"id": "p8", "text": "hire only men", "decision": "escalate", "severity": {"fairness": 2}}' \
    '{"id": "p9", "text": "a typo", "decision": "deny", "severity": {"rigths": 2}}'
} >"$work/precedents-bad.jsonl"
for w in 1 3; do
  ranks "$w" "$bin/eleanor-worker" index --config "$config" --input "$work/precedents-bad.jsonl" \
    --out "$work/corpus-bad$w" --set job.max_line_bytes=300 --set logging.level=warn \
    2>"$work/index-bad$w.log" >/dev/null || { cat "$work/index-bad$w.log"; fail "index W=$w failed"; }
  # A severity for no critic is indexed as given, with a warning naming the line and the key.
  grep -q "precedents-bad.jsonl:9: precedent 'p9' gives a severity for 'rigths', which is none of ELEANOR's critics" \
    "$work/index-bad$w.log" || { cat "$work/index-bad$w.log"; fail "index W=$w: no warning for 'rigths'"; }
  python3 - "$work/corpus-bad$w" <<'PY' || fail "index W=$w: the corpus or its errors.jsonl is wrong"
import json, sys
folder = sys.argv[1]
ids = [json.loads(l)["id"] for l in open(folder + "/meta.jsonl")]
assert ids == ["p1", "p3", "p8", "p9"], ids
assert json.load(open(folder + "/index.json"))["rows"] == 4
errors = [json.loads(l) for l in open(folder + "/errors.jsonl")]
assert [e["line"] for e in errors] == [2, 5, 6, 7], errors
assert errors[0]["reason"].startswith("malformed JSON"), errors[0]
assert errors[1]["id"] == "p5" and errors[1]["reason"].startswith('field "decision" must be one of'), errors[1]
assert errors[2]["reason"].startswith("line is ") and "job.max_line_bytes (300)" in errors[2]["reason"], errors[2]
assert errors[3]["id"] == "p7" and errors[3]["reason"] == 'severity of "risk" must be a number in 0..3, got 9', errors[3]
PY
done
for f in embeddings.npy meta.jsonl errors.jsonl; do
  cmp "$work/corpus-bad1/$f" "$work/corpus-bad3/$f" || fail "index: $f differs between W=1 and W=3"
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
echo "bad input: errors.jsonl lines 2,5,6; results c1,c3,c7; index: bad precedent lines 2,5,6,7, corpus p1,p3,p8,p9; setup errors named"
