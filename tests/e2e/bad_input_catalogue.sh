#!/usr/bin/env bash
# The bad-input catalogue beyond bad_input.sh: each problem lands in errors.jsonl with its line
# and reason while the job goes on, or, for setup problems, stops the job before any work with a
# message naming the file, key or line.
source "$(dirname "$0")/common.bash" "$@"

three_precedent_corpus 1
run() {  # run W OUTPUT INPUT [more --set ...]
  local w="$1" out="$2" input="$3"; shift 3
  ranks "$w" "$bin/eleanor-worker" run --config "$config" --set logging.level=warn \
    --set job.precedents="$work/corpus" --set job.input="$input" --set job.output="$out" "$@"
}
reasons() { python3 -c 'import json,sys; [print(json.loads(l)["line"], json.loads(l)["reason"]) for l in open(sys.argv[1])]' "$1"; }
ids() { python3 -c 'import json,sys; print(" ".join(json.loads(l)["id"] for l in open(sys.argv[1])))' "$1"; }

# Duplicate ids: keep the first (every W), or stop.
printf '%s\n' '{"id": "a", "text": "hello"}' '{"id": "b", "text": "x"}' '{"id": "a", "text": "again"}' \
  '{"id": "c", "text": "y"}' '{"id": "b", "text": "z"}' >"$work/dup.jsonl"
for w in 1 3; do
  run "$w" "$work/dup$w" "$work/dup.jsonl" >/dev/null
  [ "$(ids "$work/dup$w/results.jsonl")" = "a b c" ] || fail "duplicates W=$w: $(ids "$work/dup$w/results.jsonl")"
  grep -q "^3 duplicate id 'a': first used on line 1" <<<"$(reasons "$work/dup$w/errors.jsonl")" || fail "dup reason W=$w"
  grep -q "^5 duplicate id 'b': first used on line 2" <<<"$(reasons "$work/dup$w/errors.jsonl")" || fail "dup reason 5 W=$w"
done
expect_fail 2 "2 case\(s\) in .* repeat an earlier id \(e.g. line 3 repeats the id of line 1\)" -- \
  run 2 "$work/dup-error" "$work/dup.jsonl" --set job.duplicate_ids=error

# Empty input: an empty result, not an error.
: >"$work/empty.jsonl"
run 2 "$work/empty" "$work/empty.jsonl" >/dev/null
[ -f "$work/empty/results.jsonl" ] && [ ! -s "$work/empty/results.jsonl" ] || fail "empty input"
python3 -c "import json; r=json.load(open('$work/empty/report.json')); assert r['counts']['lines']==0, r['counts']"

# Files that are not JSON lines stop the job at start-up, naming the file, the setting and the
# command that converts it (read line by line, every line would be an error and the job would
# "succeed" with no result): compressed other than gzip and zstd (those are read:
# e2e.compressed_input), UTF-16, one JSON array, a pipe, a folder without JSON lines files.
printf '%s\n' '{"id": "g1", "text": "hello"}' '{"id": "g2", "text": "world"}' >"$work/plain.jsonl"
xz -c "$work/plain.jsonl" >"$work/plain.jsonl.xz"
expect_fail 2 "'$work/plain.jsonl.xz' is xz-compressed, not JSON lines: .*xzcat '$work/plain.jsonl.xz' > '$work/plain.jsonl'.* \(job.input\)" -- \
  run 2 "$work/xz" "$work/plain.jsonl.xz"
[ ! -e "$work/xz" ] || fail "a refused input left an output folder"
iconv -f UTF-8 -t UTF-16 "$work/plain.jsonl" >"$work/utf16.jsonl"
expect_fail 2 "is UTF-16LE text .*iconv -f UTF-16LE -t UTF-8" -- run 1 "$work/u16" "$work/utf16.jsonl"
python3 -c 'import json,sys; json.dump([json.loads(l) for l in open(sys.argv[1])], open(sys.argv[2], "w"), indent=2)' \
  "$work/plain.jsonl" "$work/array.json"
expect_fail 2 "is one JSON array, not JSON lines .*jq -c '.\[\]' '$work/array.json' > '$work/array.jsonl'" -- \
  run 2 "$work/arr" "$work/array.json"
cat "$work/plain.jsonl" | expect_fail 2 "'/dev/stdin' is a pipe: .*write the data to a file first.* \(job.input\)" -- \
  "$bin/eleanor-worker" run --config "$config" --set job.input=/dev/stdin --set job.output="$work/pipe"
# A folder is read as its JSON lines files (e2e.input_files); one without any is refused.
mkdir -p "$work/xzdir" && cp "$work/plain.jsonl.xz" "$work/xzdir/"
expect_fail 2 "folder '$work/xzdir' \(job.input\) holds no JSON lines file \(\*.jsonl, \*.ndjson, \*.json, or one of these compressed: .gz, .zst\); it holds 1 other file\(s\), e.g. 'plain.jsonl.xz'" -- \
  run 2 "$work/dir" "$work/xzdir"
expect_fail 2 "'$work/plain.jsonl.xz' is xz-compressed, not JSON lines: .* \(--input\)" -- \
  ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$work/plain.jsonl.xz" --out "$work/xz-corpus"
[ ! -e "$work/xz-corpus" ] || fail "a refused index input left a corpus folder"
# doctor finds the same before a job is queued: each problem a row, exit 1; none with good files.
doctor() { "$bin/eleanor-worker" doctor --config "$config" --set job.precedents="$work/corpus" \
  --set job.input="$work/plain.jsonl" --set job.output="$work/doctor-out" "$@" 2>&1; }
doctor >"$work/doctor.log" || { cat "$work/doctor.log"; fail "doctor found a problem in good files"; }
grep -q "^  corpus  *$work/corpus: 3 precedents x 384 dims, embedded with 'hashing dim=384 seed=0 bigrams=true'" "$work/doctor.log" ||
  fail "doctor's corpus row: $(grep corpus "$work/doctor.log")"
grep -qE "^  output  *$work/doctor-out: will be created; [0-9.]+ ([GMK]iB|bytes) free on its file system" "$work/doctor.log" ||
  fail "doctor's output row: $(grep output "$work/doctor.log")"
[ ! -e "$work/doctor-out" ] || fail "doctor created the output folder"
for problem in "job.input=$work/plain.jsonl.xz|input .*PROBLEM: .*xz-compressed" \
               "embedder.dim=128|corpus .*PROBLEM: .*has dimension 384 but embedder.dim is 128" \
               "embedder.seed=7|corpus .*PROBLEM: .*was embedded with 'hashing dim=384 seed=0 bigrams=true' but this config embeds with 'hashing dim=384 seed=7" \
               "job.precedents=$work/nothing|corpus .*PROBLEM: '$work/nothing' is not a folder" \
               "job.output=$work/corpus|output .*PROBLEM: job.output '$work/corpus' is the corpus folder"; do
  rc=0; doctor --set "${problem%%|*}" >"$work/doctor.log" || rc=$?
  [ "$rc" -eq 1 ] && grep -qE "^  ${problem#*|}" "$work/doctor.log" && grep -q "^1 problem(s) found" "$work/doctor.log" ||
    { cat "$work/doctor.log"; fail "doctor --set ${problem%%|*}: exit $rc, expected 1 and '${problem#*|}'"; }
done

# CRLF line ends, a BOM, invalid UTF-8 and an over-long line.
{ printf '\xef\xbb\xbf{"id": "bom", "text": "first line with a BOM"}\r\n'
  printf '{"id": "crlf", "text": "windows line"}\r\n'
  printf '{"id": "bad-utf8", "text": "caf\xe9"}\n'
  printf '{"id": "long", "text": "%s"}\n' "$(head -c 300 /dev/zero | tr '\0' x)"
  printf '{"id": "last", "text": "fine"}\n'; } >"$work/mixed.jsonl"
run 2 "$work/mixed" "$work/mixed.jsonl" --set job.max_line_bytes=200 >/dev/null
[ "$(ids "$work/mixed/results.jsonl")" = "bom crlf last" ] || fail "mixed: $(ids "$work/mixed/results.jsonl")"
grep -q "^3 malformed JSON: .*UTF-8" <<<"$(reasons "$work/mixed/errors.jsonl")" || fail "invalid UTF-8 reason"
grep -q "^4 line is 326 bytes, over job.max_line_bytes (200)" <<<"$(reasons "$work/mixed/errors.jsonl")" || fail "long line reason"

# job.max_errors: stop, with errors.jsonl written so far.
for i in $(seq 1 6); do echo "not json $i"; done >"$work/garbage.jsonl"
expect_fail 2 "job.max_errors = 3 exceeded" -- run 1 "$work/garbage" "$work/garbage.jsonl" --set job.max_errors=3
[ -s "$work/garbage/errors.jsonl" ] || fail "max_errors: errors.jsonl not written"

# top_k larger than the corpus: k shrinks with a warning; more ranks than precedents: fine.
printf '%s\n' '{"id": "q1", "text": "What is the capital of France?", "output": "Paris."}' \
  '{"id": "q2", "text": "hiring", "output": "only hire men"}' >"$work/q.jsonl"
out=$(run 1 "$work/topk" "$work/q.jsonl" --set job.top_k=50 2>&1)
grep -q "job.top_k = 50 but the corpus has 3 precedents: using k = 3" <<<"$out" || fail "top_k warning"
run 4 "$work/w4" "$work/q.jsonl" --set job.top_k=50 >/dev/null 2>&1
cmp "$work/topk/results.jsonl" "$work/w4/results.jsonl" || fail "4 ranks on 3 precedents differ from 1"

# An output folder that cannot be written.
: >"$work/a-file"
expect_fail 2 "cannot create the output folder '$work/a-file/out' \(job.output\)" -- \
  run 2 "$work/a-file/out" "$work/q.jsonl"

# An output folder that would replace what the job reads: the corpus folder (its errors.jsonl),
# the input file (chained jobs), the precedents file of an index build. Nothing is written.
cp "$work/corpus/errors.jsonl" "$work/corpus-errors.before"
expect_fail 2 "job.output '$work/corpus' is the corpus folder \(job.precedents\)" -- \
  run 2 "$work/corpus" "$work/q.jsonl"
cmp "$work/corpus/errors.jsonl" "$work/corpus-errors.before" || fail "the corpus's errors.jsonl changed"
[ ! -e "$work/corpus/results.jsonl" ] || fail "a refused run wrote into the corpus folder"
run 1 "$work/chain" "$work/q.jsonl" >/dev/null
cp "$work/chain/results.jsonl" "$work/chain-results.before"
expect_fail 2 "job.input '$work/chain/results.jsonl' is the results.jsonl this job writes in job.output" -- \
  run 2 "$work/chain" "$work/chain/results.jsonl"
cmp "$work/chain/results.jsonl" "$work/chain-results.before" || fail "the chained input changed"
expect_fail 2 "--input '$work/corpus/meta.jsonl' is the meta.jsonl this build writes in --out" -- \
  ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$work/corpus/meta.jsonl" --out "$work/corpus/../corpus"

# Broken corpora: wrong dtype, truncated body, not .npy, meta.jsonl rows, a NaN value.
corrupt() {  # corrupt NAME: a copy of the corpus to break
  rm -rf "$work/$1"; cp -r "$work/corpus" "$work/$1"; echo "$work/$1"
}
bad=$(corrupt f64)
python3 - "$bad/embeddings.npy" <<'PY'
import struct, sys
d = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 384), }"
d += " " * ((64 - (10 + len(d) + 1) % 64) % 64) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + bytes(3 * 384 * 8))
PY
expect_fail 2 "dtype '<f8' is not supported: save float32 or float16" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.precedents="$bad" \
    --set job.input="$work/q.jsonl" --set job.output="$work/o1"
bad=$(corrupt truncated)
truncate -s -100 "$bad/embeddings.npy"
expect_fail 2 "embeddings.npy': truncated: shape \(3, 384\) needs 4608 bytes of data, the file has 4508" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.precedents="$bad" \
    --set job.input="$work/q.jsonl" --set job.output="$work/o2"
bad=$(corrupt notnpy)
echo "hello" >"$bad/embeddings.npy"
expect_fail 2 "not a NumPy .npy file" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.precedents="$bad" \
    --set job.input="$work/q.jsonl" --set job.output="$work/o3"
bad=$(corrupt fewer)
head -n 2 "$work/corpus/meta.jsonl" >"$bad/meta.jsonl"
expect_fail 2 "meta.jsonl' has 2 lines but .*embeddings.npy' has 3 rows" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.precedents="$bad" \
    --set job.input="$work/q.jsonl" --set job.output="$work/o4"
bad=$(corrupt more)
tail -n 1 "$work/corpus/meta.jsonl" >>"$bad/meta.jsonl"
expect_fail 2 "meta.jsonl' has 4 lines but .*embeddings.npy' has 3 rows" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.precedents="$bad" \
    --set job.input="$work/q.jsonl" --set job.output="$work/o5"
bad=$(corrupt nan)  # a NaN in the last row: rank 1's shard at W = 2
python3 - "$bad/embeddings.npy" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
assert data[6] == 1, "expected a version 1.0 .npy header"
start = 10 + struct.unpack("<H", data[8:10])[0]
struct.pack_into("<f", data, start + 4 * (2 * 384 + 5), float("nan"))
open(path, "wb").write(data)
PY
expect_fail 2 "embeddings.npy' row 2 \(line 3 of '.*meta.jsonl'\) holds nan in column 5: every embedding value must be finite" -- \
  ranks 2 "$bin/eleanor-worker" run --config "$config" --set job.precedents="$bad" \
    --set job.input="$work/q.jsonl" --set job.output="$work/o6"
echo "bad-input catalogue: every case accounted for; setup errors named"
