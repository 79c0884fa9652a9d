#!/usr/bin/env bash
# An input of many files (a data pipeline's part files): job.input as a folder, a pattern or a
# list, and index --input likewise, read as one input. The sample cases split into part files
# (one empty, one without a final newline, Spark's _SUCCESS and .crc files beside them) give the
# same results.jsonl, byte for byte, as the one file, at W = 1..3; errors name the part file and
# its line; a resume refuses a folder whose files changed and then finishes byte-identical; every
# rank reads rank 0's list of files, and one whose node holds another size of a file stops before
# any work; the refusals name the entry.
source "$(dirname "$0")/common.bash" "$@"

cases="$src/data/sample/cases.jsonl"
precedents="$src/data/sample/precedents.jsonl"

# The precedents in three files; the corpus built from the pattern is the one-file corpus.
mkdir -p "$work/prec"
sed -n '1,700p' "$precedents" >"$work/prec/p-0.jsonl"
sed -n '701,1500p' "$precedents" >"$work/prec/p-1.jsonl"
sed -n '1501,$p' "$precedents" >"$work/prec/p-2.jsonl"
ranks 2 "$bin/eleanor-worker" index --config "$config" --input "$precedents" --out "$work/corpus" \
  --set logging.level=warn >/dev/null
ranks 3 "$bin/eleanor-worker" index --config "$config" --input "$work/prec/p-*.jsonl" \
  --out "$work/corpus-parts" --set logging.level=warn >/dev/null
same_corpus "$work/corpus" "$work/corpus-parts" "index from part files"
# --input given twice (the two forms CLI11 takes), in the order given.
ranks 1 "$bin/eleanor-worker" index --config "$config" --input "$work/prec/p-0.jsonl" \
  "$work/prec/p-1.jsonl" --input "$work/prec/p-2.jsonl" --out "$work/corpus-list" \
  --set logging.level=warn >/dev/null
cmp "$work/corpus/meta.jsonl" "$work/corpus-list/meta.jsonl" || fail "index from a list: meta differs"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["source"]; assert len(s) == 3, s' \
  "$work/corpus-list/index.json" || fail "index.json does not list the three inputs"

# The cases in part files: 170 lines, an empty file, 200 lines without a final newline, the rest.
mkdir -p "$work/parts"
sed -n '1,170p' "$cases" >"$work/parts/part-00000.jsonl"
: >"$work/parts/part-00001.jsonl"
sed -n '171,370p' "$cases" | head -c -1 >"$work/parts/part-00002.jsonl"
sed -n '371,$p' "$cases" >"$work/parts/part-00003.jsonl"
: >"$work/parts/_SUCCESS"
echo crc >"$work/parts/.part-00000.jsonl.crc"
echo "exported 2026-12-07" >"$work/parts/notes.txt"

job=(--config "$config" --set logging.level=warn --set job.precedents="$work/corpus")
ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.input="$cases" \
  --set job.output="$work/one" >/dev/null
w=0
for input in "$work/parts" "$work/parts/part-*.jsonl" \
  "[$work/parts/part-00000.jsonl, $work/parts/part-00001.jsonl, '$work/parts/part-0000[23].jsonl']"; do
  w=$((w % 3 + 1))
  ranks "$w" "$bin/eleanor-worker" run "${job[@]}" --set job.input="$input" \
    --set job.output="$work/parts-out$w" >/dev/null
  cmp "$work/one/results.jsonl" "$work/parts-out$w/results.jsonl" ||
    fail "W=$w, job.input=$input: results differ from the one-file run"
  [ ! -s "$work/parts-out$w/errors.jsonl" ] || fail "W=$w: errors from good part files"
  python3 - "$work/parts-out$w/report.json" "$work/parts" <<'PY' || fail "W=$w: report.json's input is wrong"
import json, sys
report = json.load(open(sys.argv[1]))["input"]
folder = sys.argv[2]
assert report["files"] == [f"{folder}/part-0000{i}.jsonl" for i in range(4)], report
assert report["lines"] == 500, report
PY
  rm -rf "$work/parts-out$w"
done

# Bad lines in part files: errors.jsonl names the file and its own line; a duplicate id names the
# file and line of its first use.
mkdir -p "$work/bad"
cp "$work/parts/part-00000.jsonl" "$work/bad/a.jsonl"
printf '%s\n' '{"id": "b1", "text": "fine"}' '{"id": "b2", "text": "broken' \
  "$(sed -n 3p "$cases")" >"$work/bad/b.jsonl"
first_id=$(sed -n 3p "$cases" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["id"])')
for w in 1 3; do
  ranks "$w" "$bin/eleanor-worker" run "${job[@]}" --set job.input="$work/bad" \
    --set job.output="$work/bad-out$w" >/dev/null 2>"$work/bad$w.log"
  python3 - "$work/bad-out$w" "$work/bad" "$first_id" <<'PY' || fail "W=$w: errors.jsonl is wrong"
import json, sys
out, folder, first_id = sys.argv[1:]
errors = [json.loads(l) for l in open(out + "/errors.jsonl")]
assert [(e["file"], e["line"]) for e in errors] == [(folder + "/b.jsonl", 2), (folder + "/b.jsonl", 3)], errors
assert errors[0]["reason"].startswith("malformed JSON"), errors[0]
assert errors[1]["reason"] == f"duplicate id '{first_id}': first used on line 3 of '{folder}/a.jsonl'; only the first case with an id is reviewed", errors[1]
assert sum(1 for _ in open(out + "/results.jsonl")) == 171
PY
  grep -q "repeats line 3 of '$work/bad/a.jsonl'" "$work/bad$w.log" ||
    { cat "$work/bad$w.log"; fail "W=$w: the duplicate warning does not name the file"; }
done

# Refusals name the entry and the setting, and leave no output folder.
expect_fail 2 "the pattern '$work/parts/none-\*.jsonl' \(job.input\) matches no file" -- \
  ranks 2 "$bin/eleanor-worker" run "${job[@]}" --set job.input="$work/parts/none-*.jsonl" \
    --set job.output="$work/refused"
mkdir -p "$work/xz" && xz -c "$cases" >"$work/xz/part-0.jsonl.xz"
expect_fail 2 "folder '$work/xz' \(job.input\) holds no JSON lines file .*e.g. 'part-0.jsonl.xz'" -- \
  ranks 1 "$bin/eleanor-worker" run "${job[@]}" --set job.input="$work/xz" --set job.output="$work/refused"
expect_fail 2 "job.input names one file twice \('$work/parts/part-00002.jsonl' and '$work/parts/../parts/part-00002.jsonl'\)" -- \
  ranks 1 "$bin/eleanor-worker" run "${job[@]}" --set job.output="$work/refused" \
    --set job.input="[$work/parts, $work/parts/../parts/part-00002.jsonl]"
expect_fail 2 "--input names one file twice" -- \
  ranks 1 "$bin/eleanor-worker" index --config "$config" --input "$work/prec" "$work/prec/p-1.jsonl" \
    --out "$work/refused"
# A partitioned folder (Hive / Spark: date=.../part-*): its folders are not searched; the
# refusal says so and gives the pattern that reads them.
mkdir -p "$work/exports/date=1" "$work/exports/date=2"
cp "$work/parts/part-00000.jsonl" "$work/exports/date=1/part-0.jsonl"
cp "$work/parts/part-00001.jsonl" "$work/exports/date=2/part-0.jsonl"
expect_fail 2 "folder '$work/exports' \(job.input\) holds no JSON lines file .*; it holds 2 folder\(s\), e.g. 'date=1', which are not searched: give the files themselves, a pattern that matches them \('$work/exports/\*/\*.jsonl\*' for the JSON lines files of its folders\)" -- \
  ranks 1 "$bin/eleanor-worker" run "${job[@]}" --set job.input="$work/exports" --set job.output="$work/refused"
[ ! -e "$work/refused" ] || fail "a refused job left an output folder"

# doctor checks every file and says how many.
"$bin/eleanor-worker" doctor "${job[@]}" --set job.input="$work/parts" \
  --set job.output="$work/doctor-out" >"$work/doctor.log" 2>&1 || { cat "$work/doctor.log"; fail "doctor"; }
grep -q "^  input  *$work/parts: 4 files ('$work/parts/part-00000.jsonl' ... '$work/parts/part-00003.jsonl'), [0-9]* bytes of JSON lines" \
  "$work/doctor.log" || { cat "$work/doctor.log"; fail "doctor's input row"; }
[ "$(grep -c "folder '$work/parts' (job.input): 1 file(s) not named \*.jsonl, \*.ndjson or \*.json (or those .gz, .zst) are left out (e.g. 'notes.txt')" \
  "$work/doctor.log")" = 1 ] || { cat "$work/doctor.log"; fail "not one warning for the folder's other file"; }
# A folder beside the parts is named, with the pattern, once.
mkdir -p "$work/parts/late"
"$bin/eleanor-worker" doctor "${job[@]}" --set job.input="$work/parts" \
  --set job.output="$work/doctor-out" >"$work/doctor.log" 2>&1 || { cat "$work/doctor.log"; fail "doctor"; }
[ "$(grep -c "folder '$work/parts' (job.input): its 1 folder(s) are not searched (e.g. 'late'); to read their files too, give a pattern such as '$work/parts/\*/\*.jsonl\*' beside the folder" \
  "$work/doctor.log")" = 1 ] || { cat "$work/doctor.log"; fail "not one warning for the folder's folder"; }
rmdir "$work/parts/late"
expect_fail 1 "input  *PROBLEM: .*xz-compressed" -- \
  "$bin/eleanor-worker" doctor "${job[@]}" --set job.input="[$work/parts, $work/xz/part-0.jsonl.xz]" \
    --set job.output="$work/doctor-out"

# Rank 0 lists the folder and every rank reads its list: a rank whose node sees one more file
# there reads what rank 0 listed (the same results); one whose node holds another size of a file
# it reads stops before any work, naming the file and both sizes.
mkdir -p "$work/other-parts" "$work/grown-parts"
cp "$work/parts/"part-*.jsonl "$work/other-parts/"
cp "$work/parts/"part-*.jsonl "$work/grown-parts/"
echo '{"id": "late", "text": "a part still being copied"}' >"$work/other-parts/part-00004.jsonl"
echo '{"id": "late", "text": "a line still being written"}' >>"$work/grown-parts/part-00003.jsonl"
list_job=(run "${job[@]}" --set job.input="$work/parts")
rank1_sees_other "$work/other-parts" "$work/parts" "${list_job[@]}" --set job.output="$work/lists" \
  >/dev/null 2>&1 || fail "a rank whose node sees another file in the folder failed"
cmp "$work/one/results.jsonl" "$work/lists/results.jsonl" || fail "rank 1 read another list of files"
size=$(stat -c %s "$work/parts/part-00003.jsonl")
expect_fail 2 "rank 1/2 \([^)]*\) failed in stage 'setup': '$work/parts/part-00003.jsonl' \(job.input\) is $((size + 53)) bytes here but was $size when rank 0 listed the input" -- \
  rank1_sees_other "$work/grown-parts" "$work/parts" "${list_job[@]}" --set job.output="$work/grown"
[ ! -e "$work/grown/results.jsonl" ] || fail "a rank with another copy of a file wrote results"

# A run over the folder killed mid-way: a resume refuses a folder with another file or a changed
# file, naming it, and then finishes byte-identical to the uninterrupted run.
slow=("${job[@]}" --set job.input="$work/parts" --set job.batch_size=8 --set job.checkpoint_interval_s=0)
run_killed_midway "$work/resumed" "${slow[@]}"
cp "$work/other-parts/part-00004.jsonl" "$work/parts/"
expect_fail 2 "the input file changed since the run began \(then 4 file\(s\), now 5\)" -- \
  ranks 2 "$bin/eleanor-worker" run "${slow[@]}" --set job.output="$work/resumed" --resume
rm "$work/parts/part-00004.jsonl"
cp -p "$work/parts/part-00003.jsonl" "$work/saved.jsonl"
echo '{"id": "extra", "text": "one more"}' >>"$work/parts/part-00003.jsonl"
expect_fail 2 "the input file changed since the run began \(then: '$work/parts/part-00003.jsonl' size [0-9]+, .*; now: '$work/parts/part-00003.jsonl' size" -- \
  ranks 2 "$bin/eleanor-worker" run "${slow[@]}" --set job.output="$work/resumed" --resume
cp -p "$work/saved.jsonl" "$work/parts/part-00003.jsonl"
ranks 2 "$bin/eleanor-worker" run "${slow[@]}" --set job.output="$work/resumed" --resume >/dev/null
cmp "$work/one/results.jsonl" "$work/resumed/results.jsonl" || fail "the resumed run's results differ"
echo "input files: folders, patterns and lists read as one input; errors name the part file"
