#!/usr/bin/env bash
# The GPU machine's check, in one call (see ../shared/GPU-MACHINE.md): configure against that
# machine's LibTorch (CUDA), build for sm_90 with the carried Debian libraries (.deps/gpu, made
# by scripts/gpu-deps.sh), run the GPU tests, the sample job on CPU and on the GPU (NCCL
# backend, and int8 / offloaded shards), compare their results, and run the GPU benchmarks.
# Full logs under $OUT; a short table last. Every step runs even when one before it failed.
#   device: run  command="GPU_CHECK_BUDGET_S=560 scripts/gpu-check.sh"  carry=[".deps/gpu"]
# One command may run 10 minutes and a session has 15 of device time, the machine's start
# included (about 30 s on 2026-11-27). On an H200 that day, under GPU_CHECK_BUDGET_S=470, the
# check took 446 s: build 52-72 s, GPU tests 91-100 s, the Hopper tests 77-103 s, headline
# search rows 57 s, Hopper rows 38 s, jobs and drills 60 s, embedder 29 s; the budget cut the
# rest of the search matrix and skipped the CPU benchmark. Added since: the pairs' tests and
# rows, the profile (estimated 2 minutes together; the at-scale tests draw their data once
# now, some 60 s less), the profiled scans' rows with bench_gpu3/4 (phases_*, products_* and
# five alternatives: an estimated 40 s) and their tests (some 15 s); the build compiles 13
# Hopper kernels, not 6. A later call on the warm machine (given back after 30 s idle) finds
# the build folder and builds incrementally; the GPU_CHECK_SKIP_* switches below narrow such a
# call.
#   GPU_CHECK_SKIP_TESTS=1, _JOBS=1, _EMBED=1, _BENCH=1: leave those steps out.
# GPU_CHECK_BENCH_FILTER narrows the search benchmark (e.g. 'ceiling|N=1000000/D=384');
# GPU_CHECK_SKIP_CPU_BENCH=1 skips the CPU one, GPU_CHECK_SKIP_PROFILE=1 the Nsight profile.
# GPU_CHECK_BUDGET_S=S: the whole check ends within S seconds: each step is cut at what is left
# (less a reserve for the summary), and steps that no longer fit are skipped, saying so. The
# steps run most telling first: build, GPU tests, the jobs and memory drills (issue 3), the
# Hopper kernels' tests and search rows with the profiled scans, the pairs' tests and rows,
# fused int8's, the headline search shapes (issue 4), the profile, the embedder, then the rest
# of the search matrix and the CPU benchmark.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
OUT="${OUT:-$root/build-gpu/out}"
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
build=build-gpu
bin=$build/bin
declare -A status seconds
order=()
budget="${GPU_CHECK_BUDGET_S:-0}"
limit=()  # the running step's time limit (timeout ...), for the functions that steps call

step() {  # step NAME command...: runs it, logs to $OUT/NAME.log, records status and time
  local name="$1"; shift
  order+=("$name")
  local start=$SECONDS
  limit=()
  if [ "$budget" -gt 0 ]; then
    local left=$((budget - SECONDS - 25))  # 25 s for the archive and the summary
    if [ "$left" -lt 15 ]; then
      status[$name]="skipped: time"; seconds[$name]=0
      echo "[gpu-check] $name: skipped (GPU_CHECK_BUDGET_S=$budget reached)"
      return
    fi
    limit=(timeout -k 5 "$left")
  fi
  local run=("$@")
  [ "$(type -t "$1")" = function ] || run=("${limit[@]}" "$@")
  if "${run[@]}" >"$OUT/$name.log" 2>&1; then status[$name]=ok; else status[$name]="FAILED rc=$?"; fi
  seconds[$name]=$((SECONDS - start))
  echo "[gpu-check] $name: ${status[$name]} (${seconds[$name]} s)"
  if [ "${status[$name]}" != ok ]; then tail -n 25 "$OUT/$name.log" | sed "s/^/    $name| /"; fi
}

# The Debian libraries that machine lacks travel in .deps/gpu (ignored by git, so not in a
# clone): without them the build cannot configure, and the lease would be spent finding out.
if [ ! -d .deps/gpu/usr/include/hs ] || [ ! -f .deps/gpu/usr/include/zstd.h ]; then
  echo "gpu-check: .deps/gpu is missing (or older than this checkout: no zstd.h): run scripts/gpu-deps.sh on the project's machine and" \
    "pass carry: [\".deps/gpu\"] with the device call" >&2
  exit 2
fi
# Shared-library links may not survive the trip: recreate them.
lib=.deps/gpu/usr/lib/x86_64-linux-gnu
if [ -d "$lib" ]; then
  (cd "$lib" && for f in libhs.so.5.4.0 libhs_runtime.so.5.4.0 libxxhash.so.0.8.1 libutf8proc.so.2.6.0; do
     [ -f "$f" ] || continue; base="${f%%.so*}.so"; major="${f%.*.*}"
     ln -sf "$f" "$major"; ln -sf "$major" "$base"; done)
fi

step machine bash -c 'nvidia-smi; nproc; free -g; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"'
torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)"
step configure cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DELEANOR_WITH_CUDA=ON -DELEANOR_WITH_NCCL=ON \
  "-DCMAKE_PREFIX_PATH=$torch_prefix;$root/.deps/gpu/usr"
step build cmake --build $build --parallel "$(nproc)" --target eleanor-worker eleanor-launch \
  eleanor_gpu_tests bench_gpu_search bench_search bench_embed -- -k 0
# The sample corpus (a second on the CPU), so that doctor checks the job's files as well as the
# machine; the sample jobs below search it.
corpus="$OUT/sample-corpus"
step index mpirun -np 1 --bind-to none $bin/eleanor-worker index --config config/eleanor.yaml \
  --input data/sample/precedents.jsonl --out "$corpus"
step doctor $bin/eleanor-worker doctor --config config/eleanor.yaml --set job.precedents="$corpus" \
  --set job.output="$OUT/job-doctor"
# A hung kernel must not eat the lease: every GPU step has a time limit.
# The Hopper kernels' own tests ("Hopper" in their names) run in a process of their own: a
# fault there cannot take the other tests' results along; those of the opt-in pairs of blocks
# ("HopperPairs") in a third, those of int8 shards through the fused kernel (opt-in,
# "FusedInt8") in a fourth, those of the floor scan (opt-in, "HopperFloors") in a fifth. The
# first now; the others after the jobs and drills, each before its benchmark rows (below).
gpu_tests() {  # gpu_tests NAME FILTER SECONDS
  [ -n "${GPU_CHECK_SKIP_TESTS:-}" ] && return
  step "$1" timeout "$3" mpirun -np 1 --bind-to none $bin/eleanor_gpu_tests \
    --gtest_filter="$2" --gtest_output=json:"$OUT/$1.json"
}
gpu_tests gpu_tests '-*Hopper*:*FusedInt8*' 240

# The search benchmark (GPU_CHECK_BENCH_FILTER: a --benchmark_filter regex, all of it in one
# run). Otherwise in parts, each a process of its own, after the jobs and drills: the Hopper
# kernels' rows (3, ELEANOR_BENCH_SM90=1), the pairs' (4), issue 4's headline shapes (1: 1M and
# 4M x 384, k = 10; k = 100 at 1M; int8 and its recall), and after the embedder the rest (2:
# D = 768, 4M at k = 100).
bench_gpu() {  # bench_gpu PART FILTER [VAR=VALUE...]
  step "bench_gpu$1" env "${@:3}" timeout 300 $bin/bench_gpu_search --benchmark_filter="$2" \
    --benchmark_out="$OUT/bench_gpu$1.json" --benchmark_out_format=json
}

# Where the Hopper window's time goes (1M x 384, k = 10): Nsight Systems' kernel and CUDA API
# sums (the scan, the merge, the host's part between them) and Nsight Compute's view of one
# scan and one merge (throughput, occupancy, warp stall reasons). Either tool may be absent.
profile_sm90() {
  local run=(env ELEANOR_BENCH_SM90=1 ELEANOR_BENCH_N=1000000 ELEANOR_BENCH_D=384 ELEANOR_BENCH_K=10)
  local nsys ncu
  nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  [ -n "$nsys$ncu" ] || { echo "neither nsys nor ncu on this machine"; return 0; }
  if [ -n "$nsys" ]; then
    "${limit[@]}" "${run[@]}" "$nsys" profile --stats=true --force-overwrite=true \
      --output=/tmp/profile-sm90 $bin/bench_gpu_search --benchmark_filter='window_sm90_bf16'
  fi
  if [ -n "$ncu" ]; then
    "${limit[@]}" "${run[@]}" "$ncu" --clock-control none -k 'regex:hopperScanKernel|fusedMergeKernel' \
      --launch-skip 2 --launch-count 2 --section SpeedOfLight --section Occupancy \
      --section LaunchStats --section WarpStateStats --section SchedulerStats \
      --section MemoryWorkloadAnalysis $bin/bench_gpu_search --benchmark_filter='window_sm90_bf16'
  fi
}

# The sample job: CPU, then GPU (NCCL backend; the fused kernel, and the matrix path), GPU int8,
# GPU offloaded: same results.
job() {  # job NAME extra --set arguments... (against $corpus)
  local name="$1"; shift
  "${limit[@]}" mpirun -np 1 --bind-to none $bin/eleanor-worker run --config config/eleanor.yaml \
    --set job.precedents="$corpus" --set job.output="$OUT/job-$name" "$@"
}
same_as() {  # same_as REFERENCE VARIANT: both jobs wrote byte-identical, non-empty results
  [ -s "$OUT/job-$1/results.jsonl" ] && [ -s "$OUT/job-$2/results.jsonl" ] &&
    cmp "$OUT/job-$1/results.jsonl" "$OUT/job-$2/results.jsonl"
}
if [ -z "${GPU_CHECK_SKIP_JOBS:-}" ]; then
step job_cpu job cpu --set "gpu.device_preference=[cpu]" --set comm.backend=mpi
step job_gpu_nccl job gpu --set comm.backend=nccl
step job_gpu_matmul job gpu-matmul --set search.kernel=matmul
step job_gpu_int8 job gpu-int8 --set gpu.memory.quantization.enabled=true
step job_gpu_offload job gpu-offload --set gpu.memory.offload_to_cpu=true --set gpu.async.num_streams=2
same() {  # same VARIANT: the CPU job finished, and VARIANT wrote its bytes
  [ "${status[job_cpu]}" = ok ] && same_as cpu "$1"
}
portable_job() {  # the portable fused kernel (the default job runs the Hopper one on a 9.0 card)
  (export ELEANOR_FUSED_SM90=0; job gpu-portable --set comm.backend=nccl)
}
step job_gpu_portable portable_job
fused_int8_job() {  # an int8 shard through the fused kernel (opt-in until it has run on a GPU)
  (export ELEANOR_FUSED_INT8=1; job gpu-int8-fused --set gpu.memory.quantization.enabled=true)
}
step job_gpu_int8_fused fused_int8_job
for variant in gpu gpu-matmul gpu-int8 gpu-offload gpu-portable gpu-int8-fused; do
  step "same_results_$variant" same "$variant"
done
# Issue 3's forced small memory budget: the GPU rank holds all but 160 MiB of its device
# (ELEANOR_FAULT_GPU_FREE_MB, a drill aid; cuBLAS started first), the matrix path's first
# score tiles (256 cases x 400k precedents, 205 MB of bf16 products) do not fit, the search
# backs off (report: oom; 128 cases, 102 MB, fit), and every case still reaches the results:
# the CPU run's bytes. (At 128 MiB the 2026-11-27 run died creating cuBLAS's handle.)
drill="$OUT/oom-drill"
drill_job() {  # drill_job NAME extra --set arguments...
  local name="$1"; shift
  corpus="$drill/corpus" job "$name" --set job.input="$drill/cases.jsonl" "$@"
}
step oom_data python3 scripts/make-scaling-data.py --cases 2000 --precedents 400000 --out "$drill"
step oom_index mpirun -np 1 --bind-to none $bin/eleanor-worker index --config config/eleanor.yaml \
  --input "$drill/precedents.jsonl" --out "$drill/corpus"
step job_cpu_drill drill_job cpu-drill --set "gpu.device_preference=[cpu]" --set comm.backend=mpi
gpu_oom_job() {  # tiles of the whole budget (ELEANOR_MATMUL_FLOORS=0: not an eighth of the shard)
  (export ELEANOR_FAULT_GPU_FREE_MB=160 ELEANOR_MATMUL_FLOORS=0
   drill_job gpu-oom --set search.kernel=matmul --set search.memory_budget_mb=4096)
}
step job_gpu_oom gpu_oom_job
step same_results_gpu-oom same_as cpu-drill gpu-oom
# gpu.memory.max_memory_per_gpu on LibTorch's allocator: the same drill under a 1 GiB cap
# instead of the squeeze: the CPU run's bytes, the allocator's peak (summary) within the cap.
step job_gpu_cap drill_job gpu-cap --set search.kernel=matmul --set search.memory_budget_mb=4096 \
  --set gpu.memory.max_memory_per_gpu=1GiB
step same_results_gpu-cap same_as cpu-drill gpu-cap
rm -rf "$drill"
if [ "${status[job_cpu]}" != ok ] && command -v gdb >/dev/null; then
  step debug_job_cpu gdb -batch -ex run -ex bt --args $bin/eleanor-worker run --config config/eleanor.yaml \
    --set job.precedents="$corpus" --set job.output="$OUT/job-debug" --set "gpu.device_preference=[cpu]"
fi
fi

# After the jobs and drills (they decide issue 3; these explain issue 4), each group of tests
# then its rows: the Hopper kernels' (part 3: windows, and the profiled scans: where a tile's
# time goes, and the alternatives), the floor scan's (part 6: its window and whole search next
# to the search kernel's, same run), the pairs' (part 4), int8 through the fused kernel (part
# 5), then the headline shapes (part 1).
main_rows=$([ -z "${GPU_CHECK_SKIP_BENCH:-}" ] && [ -z "${GPU_CHECK_BENCH_FILTER:-}" ] && echo 1)
gpu_tests gpu_tests_sm90 '*Hopper*-*HopperPairs*:*HopperFloors*' 240
[ -n "$main_rows" ] && bench_gpu 3 'ceiling|sm90(smem)?_bf16.*(N=[14]000000/D=384/k=10|N=1000000/D=768/k=10)' ELEANOR_BENCH_SM90=1
gpu_tests gpu_tests_floors '*HopperFloors*' 180
[ -n "$main_rows" ] && bench_gpu 6 'ceiling|(window_sm90|window_sm90floors|fused|fused_sm90floors)_bf16/N=[14]000000/D=384/k=10' \
  ELEANOR_BENCH_SM90=1 ELEANOR_BENCH_FLOORS=1  # opt-in floor scan
gpu_tests gpu_tests_pairs '*HopperPairs*' 180
[ -n "$main_rows" ] && bench_gpu 4 'ceiling|sm90x2_bf16.*N=[14]000000/D=384/k=10' ELEANOR_BENCH_SM90=1  # opt-in pairs
gpu_tests gpu_tests_int8 '*FusedInt8*' 180
[ -n "$main_rows" ] && bench_gpu 5 'ceiling|_int8/N=[14]000000/D=384/k=10' ELEANOR_BENCH_FUSED_INT8=1  # opt-in int8
[ -n "$main_rows" ] && bench_gpu 1 'ceiling|N=1000000/D=384/|N=4000000/D=384/k=10'

# The profile (defined above) after the jobs and drills: it explains, they decide.
[ -z "${GPU_CHECK_SKIP_BENCH:-}" ] && [ -z "${GPU_CHECK_SKIP_PROFILE:-}" ] && step profile_sm90 profile_sm90

# Issue 7: a MiniLM-L6-shaped BERT (random weights) scripted by this machine's PyTorch, 1000
# texts x 128 tokens: PyTorch's own fp32/fp16 times (ids given), our embedder's (tokenization
# included) in each dtype, and our corpus rows against PyTorch's float32 embeddings.
if [ -z "${GPU_CHECK_SKIP_EMBED:-}" ]; then
  step export_model python3 scripts/export-model.py random "$OUT/minilm" --texts 1000 --tokens 128 --time
  step bench_embed env ELEANOR_BENCH_MODEL_DIR="$OUT/minilm" ELEANOR_BENCH_DEVICE=cuda:0 \
    timeout 180 $bin/bench_embed --benchmark_out="$OUT/bench_embed.json" --benchmark_out_format=json
  if ! python3 -c "import numpy" 2>/dev/null; then
    echo "[gpu-check] no numpy in python3: no embedding parity check"
  else for dtype in float32 bfloat16; do
    tolerance=$([ $dtype = float32 ] && echo 1e-4 || echo 3e-2)
    step "embed_parity_$dtype" bash -c "mpirun -np 1 --bind-to none $bin/eleanor-worker index \
      --config config/eleanor.yaml --set embedder.type=torchscript --set embedder.model=$OUT/minilm/model.pt \
      --set embedder.vocab=$OUT/minilm/vocab.txt --set gpu.memory.dtype=$dtype --set embedder.batch_size=256 \
      --input $OUT/minilm/texts.jsonl --out $OUT/minilm-corpus-$dtype &&
      python3 scripts/compare-embeddings.py $OUT/minilm-corpus-$dtype/embeddings.npy $OUT/minilm/reference.npy \
      --tolerance $tolerance"
  done; fi
  rm -rf "$OUT/minilm" "$OUT"/minilm-corpus-*
fi

if [ -z "${GPU_CHECK_SKIP_BENCH:-}" ]; then
  if [ -n "${GPU_CHECK_BENCH_FILTER:-}" ]; then bench_gpu 1 "$GPU_CHECK_BENCH_FILTER"
  else bench_gpu 2 'ceiling|D=768|N=4000000/D=384/k=100'; fi
  [ -z "${GPU_CHECK_SKIP_CPU_BENCH:-}" ] && step bench_cpu env OMP_NUM_THREADS="$(nproc)" \
    $bin/bench_search --benchmark_out="$OUT/bench_cpu.json" --benchmark_out_format=json
fi

# At most 8 files come back from the machine: everything goes into one archive, after the summary.
for name in cpu gpu gpu-matmul gpu-int8 gpu-offload gpu-portable gpu-int8-fused cpu-drill gpu-oom gpu-cap; do
  [ -f "$OUT/job-$name/report.json" ] && cp "$OUT/job-$name/report.json" "$OUT/report-$name.json"
done
rm -rf "$OUT"/job-* "$OUT/sample-corpus"
# PyTorch's own embedding times and the parity figures, for the summary.
grep -h "^pytorch \|^compare-embeddings" "$OUT"/export_model.log "$OUT"/embed_parity_*.log \
  >"$OUT/embed-lines.txt" 2>/dev/null || true

echo
echo "== gpu-check summary ($(date -u +%F) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
for name in "${order[@]}"; do printf '  %-28s %-14s %5s s\n' "$name" "${status[$name]}" "${seconds[$name]}"; done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
for name in ("cpu", "gpu", "gpu-matmul", "gpu-int8", "gpu-offload", "gpu-portable", "gpu-int8-fused", "cpu-drill", "gpu-oom", "gpu-cap"):
    r = load(f"report-{name}.json")
    if r:
        print(f"  {name:<16} {r['backend']:<5} {r['devices'][0]:<44} {r['cases_per_second']:>9.0f} cases/s  "
              f"decisions {r['decisions']}  rescans {r['search']['rescanned_queries_per_rank']} "
              f"oom {r['search']['out_of_memory_backoffs_per_rank']}  "
              f"allocator peak MiB {r.get('cuda_allocator', {}).get('peak_allocated_mb_per_rank')}")
for name in ("gpu_tests", "gpu_tests_sm90", "gpu_tests_floors", "gpu_tests_pairs", "gpu_tests_int8"):
    t = load(f"{name}.json")
    if t:
        print(f"  {name}: {t['tests']} run, {t['failures']} failed, {t.get('disabled', 0)} disabled")
for b in filter(None, (load(f"bench_gpu{part}.json") for part in (1, 3, 6, 4, 5, 2))):
    print(f"  {'gpu search (ms per 1024-query search)':<52} {'ms':>9} {'TFLOP/s':>8} {'ceiling':>8} {'rescans':>8} {'rows/q':>7} {'window ms':>9} {'bounds ms':>9} {'exact ms':>8} {'rescore':>8} kernel")
    phases = [x for x in b["benchmarks"] if "tile_cyc" in x]
    for x in b["benchmarks"]:
        if "tile_cyc" in x:
            continue  # the profiled scans: a table of their own, below
        if "ms" in x:
            ceiling = f"{100 * x['of_ceiling']:.1f}%" if "of_ceiling" in x else "-"
            rescans = f"{x['rescanned']:.0f}" if "rescanned" in x else "-"
            rows = f"{x['rescored']:.0f}" if "rescored" in x else "-"
            host = f"{x['rescore_ms']:.3f}" if "rescore_ms" in x else "-"  # exact rescoring
            window = f"{x['window_ms']:.3f}" if "window_ms" in x else "-"  # the GPU's part
            bounds = f"{x['bounds_ms']:.3f}" if "bounds_ms" in x else "-"  # then the host's
            exact = f"{x['exact_ms']:.3f}" if "exact_ms" in x else "-"
            kernel = x.get("label", "").partition("kernel=")[2]  # the fused kernel that ran
            print(f"  {x['name']:<52} {x['ms']:>9.3f} {x['TFLOP/s']:>8.1f} {ceiling:>8} {rescans:>8} {rows:>7} {window:>9} {bounds:>9} {exact:>8} {host:>8} {kernel}")
        else:
            extra = {k: round(v, 4) for k, v in x.items() if k in ("recall_int8_raw", "recall_int8_ours")}
            if x.get("error_occurred"):
                extra = {"skipped": x.get("error_message")}
            print(f"  {x['name']:<52} {extra}")
    if phases:  # the profiled Hopper scans (no merge): cycles per consumer warp and row tile
        print(f"  {'where a Hopper scan goes (cycles per warp and tile)':<52} {'ms':>7} {'wait':>6} {'mma':>6} {'select':>6} {'tile':>6} {'slow':>5} {'cuts':>5} {'prod.wait':>9} {'MHz':>5}")
        for x in phases:
            print(f"  {x['name']:<52} {x['ms']:>7.3f} {x['wait_cyc']:>6.0f} {x['mma_cyc']:>6.0f} {x['select_cyc']:>6.0f} "
                  f"{x['tile_cyc']:>6.0f} {x['slow_tiles']:>5.2f} {x['cut_rounds']:>5.1f} {x['producer_wait_cyc']:>9.0f} {x['MHz']:>5.0f}")
b = load("bench_embed.json")
if b:
    print(f"  {'our embedder, 1000 texts x 128 tokens, tokenization included':<60} {'ms':>9} {'texts/s':>10}")
    for x in b["benchmarks"]:
        print(f"  {x['name']:<60} {x['real_time']:>9.1f} {x['texts/s']:>10.0f}  {x.get('label', '')}")
try:
    for line in open(os.path.join(out, "embed-lines.txt")):
        print("  " + line.rstrip())
except OSError:
    pass
b = load("bench_cpu.json")
if b:
    for x in b["benchmarks"]:
        extra = {k: round(v, 4) for k, v in x.items() if k in ("TFLOP/s", "GFLOP/s", "rescanned", "recall_int8_raw", "recall_int8_ours")}
        print(f"  {x['name']:<44} {x['real_time']:>10.3f} {x['time_unit']}  {extra}  {x.get('label', '')}")
PY
if [ -s "$OUT/profile_sm90.log" ]; then  # the profile's headline lines (the whole log is archived)
  echo "  profile of window_sm90_bf16 (1M x 384, k = 10):"
  grep -E "hopperScanKernel|fusedMergeKernel|cudaLaunchKernel|cudaFuncSetAttribute|Duration|Throughput|Achieved Occupancy|Issue Slots Busy|Warp Cycles Per Issued|stalled" \
    "$OUT/profile_sm90.log" | cut -c1-200 | head -40 | sed 's/^/    /'
fi
(cd "$OUT" && tar czf gpu-check.tgz --remove-files $(ls | grep -v '^gpu-check.tgz$'))
