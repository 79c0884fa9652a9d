#!/usr/bin/env bash
# Input benchmark (figures, not a test): one job's cases as one file and as many part files (a
# folder, job.input), plain and compressed, on 2 ranks: set-up seconds (where each rank lists,
# stats and maps its files, and decompresses its compressed ones once to count their lines),
# whole-job seconds and cases/s from report.json, median of 3, and whether results.jsonl is the
# same bytes as the one-file run's. Prints one table at the end.
#   ELEANOR_BENCH_CASES (default 100000), ELEANOR_BENCH_RANKS (default 2),
#   ELEANOR_BENCH_PARTS (default "1 100 1000 10000 1.gz 1.zst 2.gz 100.gz 100.zst 1.bgz 1.pzst":
#   N part files, with .gz / .zst each compressed by gzip -6 / zstd -3 (one stream: a rank
#   decompresses it from its start to its part), with .bgz by bgzip (named .gz: a rank starts at
#   the block before its part), with .pzst by pzstd -3 (named .zst: at the frame before it)).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/build.sh >/dev/null
source scripts/sample-job.bash
export_worker_threading build/bin
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cases="${ELEANOR_BENCH_CASES:-100000}"
parts="${ELEANOR_BENCH_PARTS:-1 100 1000 10000 1.gz 1.zst 2.gz 100.gz 100.zst 1.bgz 1.pzst}"
np="${ELEANOR_BENCH_RANKS:-2}"
out="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-bench-input.XXXXXX")"
trap 'rm -rf "$out"' EXIT

corpus=build/sample-corpus
if [ ! -f "$corpus/embeddings.npy" ] || [ data/sample/precedents.jsonl -nt "$corpus/embeddings.npy" ]; then
  build/bin/eleanor-launch --np 2 -- index --config config/eleanor.yaml \
    --input data/sample/precedents.jsonl --out "$corpus" --set logging.level=warn >/dev/null
fi
/usr/bin/python3 scripts/make-scaling-data.py --cases "$cases" --precedents 1 --out "$out/data" >/dev/null

for spec in $parts; do
  n="${spec%%.*}"
  codec="${spec#"$n"}"
  input="$out/data/cases.jsonl"
  if [ "$spec" != 1 ]; then
    input="$out/parts-$spec"
    mkdir -p "$input"
    # n part files of about equal line counts, zero-padded names (read in name order).
    split --numeric-suffixes=0 --suffix-length=6 --additional-suffix=.jsonl \
      --number="l/$n" "$out/data/cases.jsonl" "$input/part-"
    case "$codec" in
      .gz) gzip -q "$input"/*.jsonl ;;
      .zst) zstd -q --rm "$input"/*.jsonl ;;
      .bgz) for f in "$input"/*.jsonl; do bgzip "$f"; done ;;
      .pzst) for f in "$input"/*.jsonl; do pzstd -q -3 --rm "$f"; done ;;
    esac
  fi
  for rep in 1 2 3; do
    OMP_NUM_THREADS=$(( $(nproc) / np > 0 ? $(nproc) / np : 1 )) build/bin/eleanor-launch --np "$np" -- \
      run --config config/eleanor.yaml --set logging.level=warn --set job.input="$input" \
      --set job.output="$out/job-$spec-$rep" >/dev/null 2>"$out/job-$spec-$rep.log"
  done
done

/usr/bin/python3 - "$out" "$parts" "$np" "$cases" <<'PY'
import filecmp, json, os, platform, statistics, sys
out, parts, np, cases = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
print()
print(f"Input benchmark  host {platform.node()}  {cases} cases  W = {np}  median of 3")
print(f"{'part files':>10} {'MiB':>7} {'setup s':>9} {'job s':>8} {'cases/s':>9}  results")
reference = os.path.join(out, f"job-{parts[0]}-1", "results.jsonl")
for n in parts:
    reports = [json.load(open(os.path.join(out, f"job-{n}-{r}", "report.json"))) for r in (1, 2, 3)]
    setup = statistics.median(r["setup_seconds"] for r in reports)
    seconds = statistics.median(r["seconds"] for r in reports)
    rate = statistics.median(r["cases_per_second"] for r in reports)
    assert len(reports[0]["input"]["files"]) == int(n.split(".")[0]), reports[0]["input"]["files"][:3]
    mib = reports[0]["input"]["bytes"] / 2**20
    same = all(filecmp.cmp(reference, os.path.join(out, f"job-{n}-{r}", "results.jsonl"),
                           shallow=False) for r in (1, 2, 3))
    print(f"{n:>10} {mib:>7.1f} {setup:>9.3f} {seconds:>8.3f} {rate:>9.0f}  {'same bytes' if same else 'DIFFER'}")
PY
