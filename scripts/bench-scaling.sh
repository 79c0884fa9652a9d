#!/usr/bin/env bash
# Scaling benchmark (figures, not a test), on this machine's CPUs:
#   strong scaling: one fixed job (the bundled sample: 500 cases, 2,000 precedents) at
#                   W = 1, 2, 4 ranks;
#   weak scaling:   a fixed shard per rank (25,000 precedents per rank, so the corpus grows
#                   with W: 25k, 50k, 100k) against a fixed 2,000 cases, made from the sample
#                   by scripts/make-scaling-data.py;
#   all-gather:     benchmarks/bench_allgather (MpiCommunicator::allGather and plain
#                   MPI_Allgather) at W = 2, 4, with nccl-tests' bus bandwidth.
# Prints the seed's table per scaling (operation x W ranks: embeddings, critic evaluation,
# precedent retrieval, whole job; from report.json's stage_seconds_per_rank, the slowest rank,
# median of the repetitions), the speedup and the parallel efficiency, then the bus bandwidth.
#
# Usage: scripts/bench-scaling.sh [BIN_DIR]   (default: build with scripts/build.sh, build/bin)
# Settings (environment):
#   ELEANOR_SCALING_RANKS="1 2 4"    rank counts (past this machine's cores: oversubscribed)
#   ELEANOR_SCALING_THREADS=1        cores per rank (--cpus-per-task, OMP_NUM_THREADS)
#   ELEANOR_SCALING_REPS=3           repetitions of each run (the median is shown)
#   ELEANOR_STRONG_CASES=500 ELEANOR_STRONG_PRECEDENTS=2000   the strong-scaling job
#   ELEANOR_WEAK_CASES=2000 ELEANOR_WEAK_SHARD=25000           the weak-scaling job
#   ELEANOR_SCALING_OUT=DIR          keep the runs' reports there (default: a temporary folder)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/sample-job.bash"
bin="$(eleanor_bin_dir "${1:-}")"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
read -r -a rank_counts <<<"${ELEANOR_SCALING_RANKS:-1 2 4}"
threads="${ELEANOR_SCALING_THREADS:-1}"
reps="${ELEANOR_SCALING_REPS:-3}"
strong_cases="${ELEANOR_STRONG_CASES:-500}"
strong_precedents="${ELEANOR_STRONG_PRECEDENTS:-2000}"
weak_cases="${ELEANOR_WEAK_CASES:-2000}"
weak_shard="${ELEANOR_WEAK_SHARD:-25000}"
if [ -n "${ELEANOR_SCALING_OUT:-}" ]; then
  out="$ELEANOR_SCALING_OUT"
  mkdir -p "$out"
else
  out="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-scaling.XXXXXX")"
  trap 'rm -rf "$out"' EXIT
fi
config="$root/config/eleanor.yaml"
# A CPU run whatever GPUs the machine has; OMP_NUM_THREADS from --cpus-per-task.
unset OMP_NUM_THREADS
launch=("$bin/eleanor-launch" --gpus-per-node 0 --cpus-per-task "$threads")

# corpus NAME CASES PRECEDENTS: inputs in $out/data-NAME (the sample itself when it is that
# size), precedents indexed with the job's embedder.
corpus() {
  local cases="$2" precedents="$3" dir="$out/data-$1"
  mkdir -p "$dir"
  if [ "$cases" -eq 500 ] && [ "$precedents" -eq 2000 ]; then
    cp "$root/data/sample/cases.jsonl" "$root/data/sample/precedents.jsonl" "$dir/"
  else
    python3 "$root/scripts/make-scaling-data.py" --cases "$cases" --precedents "$precedents" --out "$dir"
  fi
  "${launch[@]}" --np 2 -- index --config "$config" --input "$dir/precedents.jsonl" \
    --out "$dir/corpus" --set logging.level=warn >/dev/null 2>"$dir/index.log" ||
    { cat "$dir/index.log" >&2; exit 1; }
}

# job RUN DATA W: the job on DATA's inputs with W ranks; its report in $out/RUN.
job() {
  local run="$1" data="$out/data-$2" ranks="$3"
  "${launch[@]}" --np "$ranks" -- run --config "$config" --set logging.level=warn \
    --set job.input="$data/cases.jsonl" --set job.precedents="$data/corpus" \
    --set job.output="$out/$run" >"$out/$run.log" 2>&1 || { cat "$out/$run.log" >&2; exit 1; }
}

# snapshot NAME: this machine's busy CPU time so far (/proc/stat) and ours (the children's
# user + sys, from `times`), so the report can say how much CPU other processes took meanwhile:
# figures taken while something else ran are not this machine's.
snapshot() {
  local user nice system irq softirq steal ours
  read -r _ user nice system _ _ irq softirq steal _ </proc/stat
  times >"$out/times"  # in this shell: `times` in a $(...) subshell would report the subshell
  ours="$(tail -1 "$out/times")"
  echo "$1 $(date +%s.%N) $((user + nice + system + irq + softirq + steal)) $ours" >>"$out/cpu-snapshots"
}
: >"$out/cpu-snapshots"
snapshot start
echo "== strong scaling: $strong_cases cases, $strong_precedents precedents, W = ${rank_counts[*]}, $threads core(s) per rank"
corpus strong "$strong_cases" "$strong_precedents"
for w in "${rank_counts[@]}"; do
  for rep in $(seq "$reps"); do job "strong-w$w-r$rep" strong "$w"; done
done

snapshot strong
echo "== weak scaling: $weak_cases cases, $weak_shard precedents per rank, W = ${rank_counts[*]}"
for w in "${rank_counts[@]}"; do
  corpus "weak-w$w" "$weak_cases" $((weak_shard * w))
  for rep in $(seq "$reps"); do job "weak-w$w-r$rep" "weak-w$w" "$w"; done
done

snapshot weak
echo "== all-gather bus bandwidth"
for w in "${rank_counts[@]}"; do
  [ "$w" -gt 1 ] || continue
  mpirun -np "$w" --oversubscribe --bind-to none "$bin/bench_allgather" --benchmark_format=json \
    >"$out/allgather-w$w.json" 2>"$out/allgather-w$w.log" || { cat "$out/allgather-w$w.log" >&2; exit 1; }
done

snapshot all-gather

python3 - "$out" "$threads" "$reps" "${rank_counts[@]}" <<'PY'
import glob, json, os, platform, re, statistics, sys

out, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ranks = [int(w) for w in sys.argv[4:]]

# The seed's operations, from the stages the worker times (slowest rank of each run).
OPERATIONS = [
    ("embeddings", ["embed"]),
    ("critic evaluation", ["critics"]),
    ("precedent retrieval", ["gather_queries", "search", "gather_results"]),
    ("  of which all-gathers", ["gather_queries", "gather_results"]),
]


def reports(run, w):
    return [json.load(open(os.path.join(out, f"{run}-w{w}-r{r}", "report.json")))
            for r in range(1, reps + 1)]


def seconds(report, stages):
    per_rank = report["stage_seconds_per_rank"]
    return max(sum(per_rank[s][i] for s in stages) for i in range(report["world_size"]))


def table(run, title, weak):
    rows = [(name, lambda r, s=stages: seconds(r, s)) for name, stages in OPERATIONS]
    rows.append(("whole job (after setup)", lambda r: r["seconds"] - r["setup_seconds"]))
    rows.append(("whole job (wall)", lambda r: r["seconds"]))
    data = {w: reports(run, w) for w in ranks}
    print(f"\n{title}")
    head = f"  {'operation':<26}" + "".join(f"{f'W={w} s':>10}" for w in ranks)
    head += "".join(f"{f'W={w} eff':>10}" for w in ranks if w != ranks[0])
    print(head)
    for name, measure in rows:
        med = {w: statistics.median(measure(r) for r in data[w]) for w in ranks}
        line = f"  {name:<26}" + "".join(f"{med[w]:>10.3f}" for w in ranks)
        base = med[ranks[0]]
        for w in ranks[1:]:
            # strong: speedup / (W / W0); weak: T0 / TW (same work per rank).
            eff = (base / med[w]) if weak else (base / med[w]) / (w / ranks[0])
            line += f"{eff:>10.2f}" if med[w] > 0 else f"{'-':>10}"
        print(line)
    first = data[ranks[0]][0]
    print(f"  (cases {first['counts']['results']}, precedents per W: "
          + ", ".join(f"{data[w][0]['precedents']['rows']}" for w in ranks)
          + f"; cases/s: " + ", ".join(
              f"{statistics.median(r['cases_per_second'] for r in data[w]):.0f}" for w in ranks) + ")")


def others():
    """(phase, share of all CPUs that other processes used during it, wall seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    rows = []
    for line in open(os.path.join(out, "cpu-snapshots")):
        name, wall, busy, times = line.split(maxsplit=3)
        ours = sum(float(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", times))
        rows.append((name, float(wall), int(busy) / tick, ours))
    shares = []
    for (_, wall0, busy0, ours0), (name, wall1, busy1, ours1) in zip(rows, rows[1:]):
        other = max(0.0, (busy1 - busy0) - (ours1 - ours0))
        shares.append((name, other / ((wall1 - wall0) * os.cpu_count()), wall1 - wall0))
    return shares


cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
load = open("/proc/loadavg").read().split()[:3]
print(f"\nScaling on {platform.node()}: {os.cpu_count()} CPUs ({cpu}), {threads} core(s) per rank, "
      f"median of {reps}, load average before the tables {' '.join(load)}")
print("Seconds of the slowest rank; eff = parallel efficiency (strong: T1 / (W x TW), weak: T1 / TW).")
print("Other processes' share of the CPUs meanwhile (figures are this machine's only when ~0%): "
      + ", ".join(f"{name} {share:.0%} ({wall:.0f} s)" for name, share, wall in others()))
table("strong", "Strong scaling (fixed job)", weak=False)
table("weak", "Weak scaling (fixed shard per rank: the corpus grows with W)", weak=True)

files = sorted(glob.glob(os.path.join(out, "allgather-w*.json")))
if files:
    print("\nAll-gather bus bandwidth, GB/s (nccl-tests: busbw = algbw x (n-1)/n, algbw = bytes "
          "received per rank / time)")
    results = {}
    for path in files:
        w = int(path.rsplit("-w", 1)[1].split(".")[0])
        for b in json.load(open(path))["benchmarks"]:
            name, size = b["name"].split("/")[:2]
            results[(name, w, int(size))] = (b["busbw"] / 1e9, b["real_time"])
    sizes = sorted({k[2] for k in results})
    ws = sorted({k[1] for k in results})
    head = f"  {'bytes per rank':>14}"
    for w in ws:
        head += f"{f'ours W={w}':>14}{f'MPI W={w}':>12}"
    print(head)
    for size in sizes:
        line = f"  {size:>14,}"
        for w in ws:
            ours = results.get(("communicator_allgather", w, size))
            mpi = results.get(("mpi_allgather", w, size))
            line += f"{ours[0]:>14.2f}" if ours else f"{'-':>14}"
            line += f"{mpi[0]:>12.2f}" if mpi else f"{'-':>12}"
        print(line)
PY
