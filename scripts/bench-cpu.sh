#!/usr/bin/env bash
# CPU benchmark (figures, not a test): exact top-10 of 1024 queries against 100,000
# precedents, D = 384, for our ShardIndex (fused in float32 and, where the CPU has AMX or
# AVX512-BF16, in bfloat16; matmul) and for LibTorch mm+topk run the same way (same data, same
# threads); then the sample job's cases/s at W = 1 and 2.
# Prints one table at the end.
# Sizes: ELEANOR_BENCH_N / _Q / _D / _K. Threads: OMP_NUM_THREADS (default: all cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/build.sh >/dev/null
build=build
# FAISS, LibTorch and the benchmark programs run with the worker's threading environment.
source scripts/sample-job.bash
export_worker_threading "$build/bin"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
threads="${OMP_NUM_THREADS:-$(nproc)}"
out="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-bench.XXXXXX")"
trap 'rm -rf "$out"' EXIT

echo "== search benchmark ($threads threads)"
# One shape (bench_search's single-shape variables); scripts/bench-search.sh runs the grid.
OMP_NUM_THREADS="$threads" ELEANOR_BENCH_N="${ELEANOR_BENCH_N:-100000}" build/bin/bench_search \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_format=json \
  >"$out/search.json"

echo "== sample job at W = 1 and 2"
corpus=build/sample-corpus
if [ ! -f "$corpus/embeddings.npy" ] || [ data/sample/precedents.jsonl -nt "$corpus/embeddings.npy" ]; then
  build/bin/eleanor-launch --np 2 -- index --config config/eleanor.yaml \
    --input data/sample/precedents.jsonl --out "$corpus" --set logging.level=warn >/dev/null
fi
for w in 1 2; do
  for rep in 1 2 3; do
    OMP_NUM_THREADS=$(( threads / w > 0 ? threads / w : 1 )) build/bin/eleanor-launch --np "$w" -- \
      run --config config/eleanor.yaml --set logging.level=warn \
      --set job.output="$out/job-$w-$rep" >/dev/null
  done
done

python3 - "$out" "$threads" <<'PY'
import json, os, platform, statistics, sys
out, threads = sys.argv[1], sys.argv[2]
bench = json.load(open(os.path.join(out, "search.json")))
rows = {}
for b in bench["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    if b.get("error_occurred"):
        continue
    name = b["run_name"].split("/")[1]
    rows[name] = (b["real_time"], b["GFLOP/s"], b.get("label", ""))
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
print()
print(f"CPU benchmark  host {platform.node()}  cpu {cpu}  threads {threads}")
label = next(iter(rows.values()))[2] if rows else ""
print(f"exact top-k search, {label}, median of 3")
print(f"  {'method':<28} {'ms':>10} {'GFLOP/s':>10}")
for name, (ms, gflops, _) in rows.items():
    print(f"  {name:<28} {ms:>10.1f} {gflops:>10.1f}")
for ours in ("eleanor_fused", "eleanor_fused_bf16"):
    if ours in rows and "libtorch_mm_topk" in rows:
        print(f"  {ours} / libtorch time ratio: {rows[ours][0] / rows['libtorch_mm_topk'][0]:.2f}")
print("sample job (data/sample: 500 cases, 2,000 precedents), median of 3 runs")
print(f"  {'ranks':<8} {'cases/s':>10} {'job s':>8} {'setup s':>8}")
for w in (1, 2):
    reports = [json.load(open(os.path.join(out, f"job-{w}-{r}", "report.json"))) for r in (1, 2, 3)]
    rate = statistics.median(r["cases_per_second"] for r in reports)
    secs = statistics.median(r["seconds"] for r in reports)
    setup = statistics.median(r["setup_seconds"] for r in reports)
    print(f"  W={w:<6} {rate:>10.1f} {secs:>8.2f} {setup:>8.2f}")
PY
