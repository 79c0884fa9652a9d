#!/usr/bin/env bash
# CPU search benchmark (figures, not a test): exact top-k of Q = 1024 queries for our fused
# index (float32, and bfloat16 where the CPU has AMX or AVX512-BF16), our matmul index,
# LibTorch's plain mm + topk (benchmarks/bench_search.cpp) and FAISS IndexFlatIP, on seeded random unit rows of
# the same shapes and the same thread count.
# Prints one table: method × shape -> ms, GFLOP/s, fraction of the measured ceiling (sgemm, or
# a bfloat16 product for the bfloat16 index), ours / FAISS, the share of queries our index
# had to scan again (its window could not be proven complete), and the rows per query it
# rescored in double precision (its window: what the rounding's bound lets through) and the ms
# of each search that rescoring took.
#
# FAISS comes from Debian's python3-faiss, a benchmark-only dependency: installed here with
# apt-get when missing (as root), never needed to build or run eleanor-dist.
#
# Shapes: ELEANOR_BENCH_SIZES="NxDxk,..." or "all" (N 100k/1M/4M × D 384/768 × k 10/100; the
# largest, 4M × 768, needs about 13 GiB); default 100k and 1M at D = 384, k = 10 and 100.
# Methods: ELEANOR_BENCH_FILTER, a Google Benchmark filter (e.g. 'fused|libtorch' leaves out
# eleanor_matmul); FAISS always runs.
# Threads: OMP_NUM_THREADS (default: all cores). Repetitions: ELEANOR_BENCH_REPS (3, median).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${ELEANOR_BUILD_DIR:-build}"
scripts/build.sh >/dev/null
# FAISS, LibTorch and the benchmark programs run with the worker's threading environment.
source scripts/sample-job.bash
export_worker_threading "$build/bin"
python=/usr/bin/python3  # Debian's python, where python3-faiss installs
if ! "$python" -c "import faiss" 2>/dev/null; then
  echo "== installing python3-faiss (benchmark-only dependency)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-search: python3-faiss is missing; run 'apt-get install -y python3-faiss' as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-faiss >/dev/null
fi
threads="${OMP_NUM_THREADS:-$(nproc)}"
export OMP_NUM_THREADS="$threads"
export ELEANOR_BENCH_SIZES="${ELEANOR_BENCH_SIZES:-100000x384x10,100000x384x100,1000000x384x10,1000000x384x100}"
reps="${ELEANOR_BENCH_REPS:-3}"
out="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-bench-search.XXXXXX")"
trap 'rm -rf "$out"' EXIT

echo "== bench_search ($threads threads, shapes $ELEANOR_BENCH_SIZES)"
"$build/bin/bench_search" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_filter="${ELEANOR_BENCH_FILTER:-.}" --benchmark_format=json >"$out/search.json"

echo "== FAISS IndexFlatIP ($threads threads)"
"$python" - "$out/faiss.json" "$threads" "$reps" <<'PY'
import json, os, sys, time
import faiss, numpy as np
path, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
faiss.omp_set_num_threads(threads)
q = 1024
rows = []
data = {}
for item in os.environ["ELEANOR_BENCH_SIZES"].split(","):
    if item == "all":
        shapes = [(n, d, k) for n in (100000, 1000000, 4000000) for d in (384, 768) for k in (10, 100)]
    else:
        n, d, k = (int(v) for v in item.split("x"))
        shapes = [(n, d, k)]
    for n, d, k in shapes:
        if data.get("shape") != (n, d):
            data.clear()
            rng = np.random.default_rng(42)
            xq = np.random.default_rng(7).standard_normal((q, d), dtype=np.float32)
            faiss.normalize_L2(xq)
            index = faiss.IndexFlatIP(d)
            for start in range(0, n, 65536):  # in blocks: the index is the only full copy
                xb = rng.standard_normal((min(65536, n - start), d), dtype=np.float32)
                faiss.normalize_L2(xb)
                index.add(xb)
            del xb
            data.update(shape=(n, d), index=index, xq=xq)
        index, xq = data["index"], data["xq"]
        index.search(xq[:64], k)  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            index.search(xq, k)
            times.append(time.perf_counter() - start)
        times.sort()
        rows.append({"n": n, "d": d, "k": k, "q": q, "ms": 1e3 * times[len(times) // 2]})
        print(f"  FAISS IndexFlatIP Q={q} N={n} D={d} k={k}: {rows[-1]['ms']:.1f} ms", flush=True)
json.dump(rows, open(path, "w"))
PY

"$python" - "$out" "$threads" "$reps" <<'PY'
import json, os, platform, re, sys
out, threads, reps = sys.argv[1], sys.argv[2], sys.argv[3]
bench = json.load(open(os.path.join(out, "search.json")))
ceiling = float(bench["context"]["sgemm_ceiling_gflops"])
bf16_ceiling = float(bench["context"].get("bf16_ceiling_gflops", "0"))
table = {}  # (n, d, k) -> method -> ms
rescanned = {}  # (n, d, k, method) -> fraction of queries scanned again (ours)
rescored = {}  # (n, d, k, method) -> rows rescored per query (ours)
rescore_ms = {}  # (n, d, k, method) -> ms of each search spent rescoring (ours)
for b in bench["benchmarks"]:
    # The median of the repetitions; with one repetition Google Benchmark makes no aggregates.
    wanted = b.get("aggregate_name") == "median" if int(reps) > 1 else b.get("run_type") == "iteration"
    if not wanted or b.get("error_occurred"):
        continue
    _, method, tag = b["run_name"].split("/")[:3]
    n, d, k = (int(v) for v in re.match(r"Q\d+_N(\d+)_D(\d+)_k(\d+)", tag).groups())
    table.setdefault((n, d, k), {})[method] = b["real_time"]
    if "rescanned" in b:
        rescanned[(n, d, k, method)] = b["rescanned"]
    if "rescored" in b:
        rescored[(n, d, k, method)] = b["rescored"]
    if "rescore_ms" in b:
        rescore_ms[(n, d, k, method)] = b["rescore_ms"]
for r in json.load(open(os.path.join(out, "faiss.json"))):
    table.setdefault((r["n"], r["d"], r["k"]), {})["faiss_flat_ip"] = r["ms"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           "unknown")
print()
print(f"exact top-k search, Q=1024, host {platform.node()}, cpu {cpu}, {threads} threads, "
      f"median of {reps}; sgemm ceiling {ceiling:.1f} GFLOP/s (4096^3)" +
      (f", bf16 ceiling {bf16_ceiling:.1f} GFLOP/s (oneDNN)" if bf16_ceiling else ""))
print(f"  {'shape':<22} {'method':<18} {'ms':>9} {'GFLOP/s':>9} {'ceiling':>8} {'/faiss':>7} "
      f"{'rescanned':>9} {'rescored/q':>10} {'rescore ms':>10}")
for (n, d, k), methods in table.items():
    flops = 2.0 * 1024 * n * d
    faiss_ms = methods.get("faiss_flat_ip")
    for method in ("eleanor_fused_bf16", "eleanor_fused", "eleanor_matmul", "libtorch_mm_topk",
                   "faiss_flat_ip"):
        if method not in methods:
            continue
        ms = methods[method]
        gflops = flops / (ms / 1e3) / 1e9
        ratio = f"{ms / faiss_ms:7.2f}" if faiss_ms else f"{'-':>7}"
        # Each against its own arithmetic's ceiling (bfloat16 products for the bf16 index).
        own = bf16_ceiling if method.endswith("bf16") else ceiling
        again = rescanned.get((n, d, k, method))
        again = f"{100 * again:8.1f}%" if again is not None else f"{'-':>9}"
        rows = rescored.get((n, d, k, method))
        rows = f"{rows:10.1f}" if rows is not None else f"{'-':>10}"
        spent = rescore_ms.get((n, d, k, method))
        spent = f"{spent:10.1f}" if spent is not None else f"{'-':>10}"
        print(f"  {f'N={n} D={d} k={k}':<22} {method:<18} {ms:>9.1f} {gflops:>9.1f} "
              f"{gflops / own:>8.2f} {ratio} {again} {rows} {spent}")
PY
