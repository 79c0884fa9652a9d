#!/usr/bin/env bash
# The demo's path: eleanor-launch starts 2 ranks on the bundled sample data; the summary shows
# every decision and cases/s, and the results reach all four decisions and all six critics.
source "$(dirname "$0")/common.bash" "$@"

"$bin/eleanor-launch" --np 2 -- index --config "$config" --input "$src/data/sample/precedents.jsonl" \
  --out "$work/corpus" --set logging.level=warn >/dev/null
grep -q -- "-np 2" <<<"$("$bin/eleanor-launch" --np 2 --dry-run -- run --config "$config")" ||
  fail "eleanor-launch --dry-run does not show -np 2"
"$bin/eleanor-launch" --np 2 -- run --config "$config" --set logging.level=warn \
  --set job.precedents="$work/corpus" --set job.output="$work/out" >"$work/summary.txt"
cat "$work/summary.txt"
for word in allow constrained_allow escalate deny errors cases/s; do
  grep -qE "^  $word +[0-9]" "$work/summary.txt" || fail "summary has no '$word' row"
done
python3 "$src/scripts/check-sample-data.py" "$work/out/results.jsonl" ||
  fail "the sample job does not reach every decision and critic"
[ "$(wc -l <"$work/out/results.jsonl")" -eq 500 ] || fail "expected 500 results"
[ ! -s "$work/out/errors.jsonl" ] || fail "the sample data produced errors"
python3 - "$work/out/report.json" <<'PY' || fail "report.json is incomplete"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["world_size"] == 2 and r["backend"] == "mpi", r
assert r["counts"]["results"] == 500 and r["counts"]["errors"] == 0, r["counts"]
for stage in ("read", "embed", "critics", "search", "aggregate", "write"):
    assert len(r["stage_seconds_per_rank"][stage]) == 2, stage
assert all(m > 0 for m in r["peak_rss_mb_per_rank"]), r["peak_rss_mb_per_rank"]
assert r["cases_per_second"] > 0
# Every rank searches every case against its shard, and rescores at least k rows for each.
s, k = r["search"], r["precedents"]["top_k"]
assert all(rows >= 500 * k for rows in s["rescored_rows_per_rank"]), s
assert all(0 <= t <= stage for t, stage in
           zip(s["rescore_seconds_per_rank"], r["stage_seconds_per_rank"]["search"])), s
PY

# Profiling: a Chrome trace with every stage of every rank.
"$bin/eleanor-launch" --np 2 -- run --config "$config" --set logging.level=warn \
  --set job.precedents="$work/corpus" --set job.output="$work/out-trace" \
  --set gpu.monitoring.enable_profiling=true --set gpu.monitoring.profile_dir="$work/trace" >/dev/null
python3 - "$work/trace" <<'PY' || fail "the Chrome trace is incomplete"
import glob, json, sys
files = glob.glob(sys.argv[1] + "/eleanor-trace-*.json")
assert len(files) == 1, files
events = json.load(open(files[0]))["traceEvents"]
names = {e["args"]["name"] for e in events if e["ph"] == "M"}
assert len(names) == 2 and all(n.startswith("rank ") for n in names), names
for pid in (0, 1):
    stages = {e["name"] for e in events if e["ph"] == "X" and e["pid"] == pid}
    assert {"read", "embed", "critics", "search", "gather_results"} <= stages, (pid, stages)
    assert all(e["dur"] >= 0 for e in events if e["ph"] == "X")
PY
echo "sample job: all decisions and critics; report and trace complete"
