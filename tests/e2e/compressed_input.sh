#!/usr/bin/env bash
# Compressed inputs: gzip (*.gz) and zstd (*.zst) files, one or part files of a folder, mixed
# with plain ones, several gzip members in a file, give the same results.jsonl, byte for byte, as
# the plain file at W = 1..3 (every file split between the ranks by its compressed bytes: a
# rank decompresses a file gzip or zstd wrote from its start, one bgzip or pzstd wrote from the
# block or frame before its part); index reads them
# too; errors name the compressed file and its line, an over-long line with its true length; a
# damaged, truncated or misnamed file stops the job before any work, naming it; a run killed
# mid-way resumes byte-identical; doctor says the files are compressed.
source "$(dirname "$0")/common.bash" "$@"

cases="$src/data/sample/cases.jsonl"
precedents="$src/data/sample/precedents.jsonl"

# index: a gzip precedents file gives the plain file's corpus.
gzip -c "$precedents" >"$work/precedents.jsonl.gz"
ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$precedents" --out "$work/corpus" \
  --set logging.level=warn >/dev/null
ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$work/precedents.jsonl.gz" \
  --out "$work/corpus-gz" --set logging.level=warn >/dev/null
same_corpus "$work/corpus" "$work/corpus-gz" "index from a gzip file"
# ... and a bgzip file (14 blocks), split between 3 ranks.
bgzip -c "$precedents" >"$work/precedents-bgzip.jsonl.gz"
ranks 3 "$bin/eleanor-worker" index --config "$config" --input "$work/precedents-bgzip.jsonl.gz" \
  --out "$work/corpus-bgzip" --set logging.level=warn >/dev/null
same_corpus "$work/corpus" "$work/corpus-bgzip" "index from a bgzip file at W = 3"

job=(--config "$config" --set job.precedents="$work/corpus")
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set logging.level=warn --set job.input="$cases" \
  --set job.output="$work/one" >/dev/null

# The job on one input file at W ranks (rank 0's log in run.log, the output in out/): the plain
# file's results, no errors.
run_as_plain() {
  local input="$1" w="$2"
  ranks "$w" "$bin/eleanor-worker" run "${job[@]}" --set job.input="$input" \
    --set job.output="$work/out" >/dev/null 2>"$work/run.log" || { cat "$work/run.log"; fail "W=$w $input"; }
  cmp "$work/one/results.jsonl" "$work/out/results.jsonl" || fail "W=$w, $input: results differ"
  [ ! -s "$work/out/errors.jsonl" ] || fail "W=$w, $input: errors from a good file"
}

# One compressed file gzip or zstd wrote (one stream): each rank decompresses it from its start
# and reads the lines of its part. gzip's text comes out line by line, so the ranks read even
# shares (no warning); zstd's comes out 128 KiB at a time, which the sample (160 KB) holds
# twice, so at W = 2 or 3 the ranks read uneven shares and rank 0 says why.
gzip -c "$cases" >"$work/cases.jsonl.gz"
zstd -q -c "$cases" >"$work/cases.jsonl.zst"
for input in "$work/cases.jsonl.gz" "$work/cases.jsonl.zst"; do
  for w in 1 2 3; do
    run_as_plain "$input" "$w"
    if [ "$input" = "$work/cases.jsonl.gz" ]; then
      ! grep -q "ranks read between" "$work/run.log" ||
        { cat "$work/run.log"; fail "W=$w, $input: not split evenly between the ranks"; }
    elif [ "$w" = 3 ]; then
      grep -q "the 3 ranks read between [0-9]* and [0-9]* of the input's 500 lines: ranks split the input by its bytes on disk, .* and zstd gives out text 128 KiB at a time" \
        "$work/run.log" || { cat "$work/run.log"; fail "no warning of the uneven split"; }
    fi
    rm -rf "$work/out"
  done
done

# Written as bgzip and pzstd write (in pieces of 25 lines: the sample is small for their own
# blocks of 64 KiB and frames of megabytes), one file is split between the ranks, each entering
# at the block or frame before its part: the same results, and no rank reads over a quarter more
# than its share (no warning).
mkdir -p "$work/pieces"
split -l 25 "$cases" "$work/pieces/p-"
for piece in "$work"/pieces/p-*; do bgzip -c "$piece"; done >"$work/cases-bgzip.jsonl.gz"
for piece in "$work"/pieces/p-*; do pzstd -q -c "$piece"; done >"$work/cases-pzstd.jsonl.zst"
bgzip -t "$work/cases-bgzip.jsonl.gz" && pzstd -q -t "$work/cases-pzstd.jsonl.zst" ||
  fail "bgzip or pzstd does not read back what it wrote"
for input in "$work/cases-bgzip.jsonl.gz" "$work/cases-pzstd.jsonl.zst"; do
  for w in 1 2 3; do
    run_as_plain "$input" "$w"
    ! grep -q "ranks read between" "$work/run.log" ||
      { cat "$work/run.log"; fail "W=$w, $input: not split evenly between the ranks"; }
    rm -rf "$work/out"
  done
done
# A damaged block in the middle, which rank 1 of 3 reads (and no other rank), stops the job at
# start-up, named by that rank.
python3 - "$work/cases-bgzip.jsonl.gz" "$work/damaged-bgzip.jsonl.gz" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x20
open(sys.argv[2], "wb").write(bytes(data))
PY
expect_fail 2 "rank 1/3 .*failed in stage 'setup': '$work/damaged-bgzip.jsonl.gz' is a damaged gzip file" -- ranks 3 \
  "$bin/eleanor-worker" run "${job[@]}" --set job.input="$work/damaged-bgzip.jsonl.gz" \
  --set job.output="$work/refused"

# Part files, mixed: bgzip (in pieces of 25 lines, as above), an empty plain file, zstd without a final newline, and a gzip file of
# two members (as pigz or `cat a.gz b.gz` write).
mkdir -p "$work/parts"
sed -n '1,170p' "$cases" | split -l 25 --filter='bgzip -c' >"$work/parts/part-00000.jsonl.gz"
: >"$work/parts/part-00001.jsonl"
sed -n '171,370p' "$cases" | head -c -1 | zstd -q -c >"$work/parts/part-00002.jsonl.zst"
{ sed -n '371,430p' "$cases" | gzip -c; sed -n '431,$p' "$cases" | gzip -c; } \
  >"$work/parts/part-00003.jsonl.gz"
: >"$work/parts/_SUCCESS"
for w in 1 2 3; do
  ranks "$w" "$bin/eleanor-worker" run "${job[@]}" --set logging.level=warn \
    --set job.input="$work/parts" --set job.output="$work/parts-out" >/dev/null
  cmp "$work/one/results.jsonl" "$work/parts-out/results.jsonl" ||
    fail "W=$w: compressed part files give other results than the one plain file"
  python3 - "$work/parts-out/report.json" <<'PY' || fail "W=$w: report.json's input is wrong"
import json, sys
report = json.load(open(sys.argv[1]))["input"]
assert [f.rsplit("/", 1)[1] for f in report["files"]] == ["part-00000.jsonl.gz", "part-00001.jsonl", "part-00002.jsonl.zst", "part-00003.jsonl.gz"], report
assert report["lines"] == 500, report
PY
  rm -rf "$work/parts-out"
done

# Errors in a compressed file name it and its own line; an over-long line (longer than the
# reader's 256 KiB buffer) is given with its true length.
mkdir -p "$work/bad"
sed -n '1,20p' "$cases" >"$work/bad/a.jsonl"
long=$(head -c 300000 /dev/zero | tr '\0' x)
{
  echo '{"id": "b1", "text": "fine"}'
  echo '{"id": "b2", "text": "broken'
  echo "{\"id\": \"b3\", \"text\": \"$long\"}"
  echo '{"id": "b4", "text": "fine too"}'
} | gzip -c >"$work/bad/b.jsonl.gz"
for w in 1 3; do
  ranks "$w" "$bin/eleanor-worker" run "${job[@]}" --set logging.level=warn \
    --set job.input="$work/bad" --set job.max_line_bytes=262144 \
    --set job.output="$work/bad-out" >/dev/null
  python3 - "$work/bad-out" "$work/bad" <<'PY' || fail "W=$w: errors.jsonl is wrong"
import json, sys
out, folder = sys.argv[1:]
errors = [json.loads(l) for l in open(out + "/errors.jsonl")]
assert [(e["file"], e["line"]) for e in errors] == [(folder + "/b.jsonl.gz", 2), (folder + "/b.jsonl.gz", 3)], errors
assert errors[0]["reason"].startswith("malformed JSON"), errors[0]
assert errors[1]["reason"].startswith("line is 300024 bytes, over job.max_line_bytes (262144)"), errors[1]
assert sum(1 for _ in open(out + "/results.jsonl")) == 22
PY
  rm -rf "$work/bad-out"
done

# Refused before any work, naming the file: cut short, damaged, misnamed either way, and a
# compression that is not read (xz).
refuse() {
  local pattern="$1" input="$2"
  expect_fail 2 "$pattern" -- ranks 2 "$bin/eleanor-worker" run "${job[@]}" \
    --set job.input="$input" --set job.output="$work/refused"
}
head -c 3000 "$work/cases.jsonl.gz" >"$work/cut.jsonl.gz"
refuse "'$work/cut.jsonl.gz' ends before its gzip stream does \(3000 bytes\): it was cut short .*\(job.input\)" \
  "$work/cut.jsonl.gz"
python3 - "$work/cases.jsonl.gz" "$work/damaged.jsonl.gz" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x20
open(sys.argv[2], "wb").write(bytes(data))
PY
refuse "'$work/damaged.jsonl.gz' is a damaged gzip file \(.* at compressed byte [0-9]+\): fetch or write it again \(\`gzip -t '$work/damaged.jsonl.gz'\` checks a copy\)" \
  "$work/damaged.jsonl.gz"
cp "$work/cases.jsonl.gz" "$work/gzip-inside.jsonl"
refuse "'$work/gzip-inside.jsonl' is gzip-compressed, but its name does not end in .gz: rename it to '$work/gzip-inside.jsonl.gz'" \
  "$work/gzip-inside.jsonl"
cp "$cases" "$work/plain.jsonl.gz"
refuse "'$work/plain.jsonl.gz' is named as a gzip file but does not start as one" "$work/plain.jsonl.gz"
xz -c "$cases" >"$work/cases.jsonl.xz"
refuse "'$work/cases.jsonl.xz' is xz-compressed, not JSON lines: only gzip \(.gz\) and zstd \(.zst\) files are read compressed; decompress it first \(xzcat" \
  "$work/cases.jsonl.xz"
[ ! -e "$work/refused" ] || fail "a refused job left an output folder"

# doctor: the row says compressed; a misnamed file is a problem row.
"$bin/eleanor-worker" doctor "${job[@]}" --set job.input="$work/parts" \
  --set job.output="$work/doctor-out" >"$work/doctor.log" 2>&1 || { cat "$work/doctor.log"; fail "doctor"; }
grep -q "^  input  *$work/parts: 4 files ('$work/parts/part-00000.jsonl.gz' ... '$work/parts/part-00003.jsonl.gz'), [0-9]* bytes of JSON lines, 3 of the files compressed (1 in blocks, as bgzip and pzstd write; the others one stream each, which each rank reading part of it decompresses from its start; " \
  "$work/doctor.log" || { cat "$work/doctor.log"; fail "doctor's input row"; }
expect_fail 1 "input  *PROBLEM: .*'$work/plain.jsonl.gz' is named as a gzip file" -- \
  "$bin/eleanor-worker" doctor "${job[@]}" --set job.input="$work/plain.jsonl.gz" \
    --set job.output="$work/doctor-out"

# Killed mid-way, resumed: the compressed files are read again up to the checkpoint, and the
# results are the uninterrupted run's.
slow=("${job[@]}" --set logging.level=warn --set job.input="$work/parts" --set job.batch_size=8
  --set job.checkpoint_interval_s=0)
run_killed_midway "$work/resumed" "${slow[@]}"
ranks 2 "$bin/eleanor-worker" run "${slow[@]}" --set job.output="$work/resumed" --resume >/dev/null
cmp "$work/one/results.jsonl" "$work/resumed/results.jsonl" || fail "the resumed run's results differ"
echo "compressed input: gzip and zstd files, whole or as parts, give the plain file's results"
