#!/usr/bin/env bash
# The GPU machine's check, in one call (see ../shared/GPU-MACHINE.md): configure against that
# machine's LibTorch (CUDA), build for sm_90 with the carried Debian libraries (.deps/gpu, made
# by scripts/gpu-deps.sh), run the GPU tests, the sample job on CPU and on the GPU (NCCL
# backend, and int8 / offloaded shards), compare their results, and run the GPU benchmarks.
# Full logs under $OUT; a short table last. Every step runs even when one before it failed.
#   device: run  command="scripts/gpu-check.sh"  carry=[".deps/gpu"]
# One command may run 10 minutes and a session has 15 of device time: build + tests + jobs +
# the embedder check fit one call, the search benchmark matrix another (the build folder stays
# on the warm machine between calls):
#   GPU_CHECK_SKIP_BENCH=1 scripts/gpu-check.sh          then
#   GPU_CHECK_SKIP_TESTS=1 GPU_CHECK_SKIP_JOBS=1 GPU_CHECK_SKIP_EMBED=1 scripts/gpu-check.sh
# GPU_CHECK_BENCH_FILTER narrows the search benchmark (e.g. 'ceiling|N=1000000/D=384').
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

step() {  # step NAME command...: runs it, logs to $OUT/NAME.log, records status and time
  local name="$1"; shift
  order+=("$name")
  local start=$SECONDS
  if "$@" >"$OUT/$name.log" 2>&1; then status[$name]=ok; else status[$name]="FAILED rc=$?"; fi
  seconds[$name]=$((SECONDS - start))
  echo "[gpu-check] $name: ${status[$name]} (${seconds[$name]} s)"
  if [ "${status[$name]}" != ok ]; then tail -n 25 "$OUT/$name.log" | sed "s/^/    $name| /"; fi
}

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
step doctor $bin/eleanor-worker doctor
# A hung kernel must not eat the lease: every GPU step has a time limit.
[ -z "${GPU_CHECK_SKIP_TESTS:-}" ] && step gpu_tests timeout 300 mpirun -np 1 --bind-to none \
  $bin/eleanor_gpu_tests --gtest_output=json:"$OUT/gpu_tests.json"

# The sample job: CPU, then GPU (NCCL backend), GPU int8, GPU offloaded: same results.
corpus="$OUT/sample-corpus"
job() {  # job NAME extra --set arguments...
  local name="$1"; shift
  mpirun -np 1 --bind-to none $bin/eleanor-worker run --config config/eleanor.yaml \
    --set job.precedents="$corpus" --set job.output="$OUT/job-$name" "$@"
}
if [ -z "${GPU_CHECK_SKIP_JOBS:-}" ]; then
step index mpirun -np 1 --bind-to none $bin/eleanor-worker index --config config/eleanor.yaml \
  --input data/sample/precedents.jsonl --out "$corpus"
step job_cpu job cpu --set "gpu.device_preference=[cpu]" --set comm.backend=mpi
step job_gpu_nccl job gpu --set comm.backend=nccl
step job_gpu_int8 job gpu-int8 --set gpu.memory.quantization.enabled=true
step job_gpu_offload job gpu-offload --set gpu.memory.offload_to_cpu=true --set gpu.async.num_streams=2
same() {  # same VARIANT: both jobs finished and wrote byte-identical, non-empty results
  [ "${status[job_cpu]}" = ok ] && [ -s "$OUT/job-cpu/results.jsonl" ] &&
    [ -s "$OUT/job-$1/results.jsonl" ] && cmp "$OUT/job-cpu/results.jsonl" "$OUT/job-$1/results.jsonl"
}
for variant in gpu gpu-int8 gpu-offload; do step "same_results_$variant" same "$variant"; done
if [ "${status[job_cpu]}" != ok ] && command -v gdb >/dev/null; then
  step debug_job_cpu gdb -batch -ex run -ex bt --args $bin/eleanor-worker run --config config/eleanor.yaml \
    --set job.precedents="$corpus" --set job.output="$OUT/job-debug" --set "gpu.device_preference=[cpu]"
fi
fi

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
# GPU_CHECK_BENCH_FILTER: a --benchmark_filter regex, e.g. 'ceiling|N=1000000/D=384' (the
# full matrix, fused / matmul / LibTorch x N 1M,4M x D 384,768 x k 10,100, takes a few minutes).
step bench_gpu timeout 420 $bin/bench_gpu_search --benchmark_filter="${GPU_CHECK_BENCH_FILTER:-.}" \
  --benchmark_out="$OUT/bench_gpu.json" --benchmark_out_format=json
step bench_cpu env OMP_NUM_THREADS="$(nproc)" $bin/bench_search --benchmark_out="$OUT/bench_cpu.json" \
  --benchmark_out_format=json
fi

# Few files come back from the machine: the reports, the benchmark JSON and one log archive.
for name in cpu gpu gpu-int8 gpu-offload; do
  [ -f "$OUT/job-$name/report.json" ] && cp "$OUT/job-$name/report.json" "$OUT/report-$name.json"
done
rm -rf "$OUT"/job-* "$OUT/sample-corpus"
# PyTorch's own embedding times and the parity figures, for the summary.
grep -h "^pytorch \|^compare-embeddings" "$OUT"/export_model.log "$OUT"/embed_parity_*.log \
  >"$OUT/embed-lines.txt" 2>/dev/null || true
tar czf "$OUT/logs.tgz" -C "$OUT" $(cd "$OUT" && ls *.log) && rm -f "$OUT"/*.log

echo
echo "== gpu-check summary ($(date -u +%F) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
for name in "${order[@]}"; do printf '  %-26s %-14s %5s s\n' "$name" "${status[$name]}" "${seconds[$name]}"; done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
for name in ("cpu", "gpu", "gpu-int8", "gpu-offload"):
    r = load(f"report-{name}.json")
    if r:
        print(f"  {name:<16} {r['backend']:<5} {r['devices'][0]:<28} {r['cases_per_second']:>9.0f} cases/s  "
              f"decisions {r['decisions']}  rescans {r['search']['rescanned_queries_per_rank']} "
              f"oom {r['search']['out_of_memory_backoffs_per_rank']}  "
              f"allocator peak MiB {r.get('cuda_allocator', {}).get('peak_allocated_mb_per_rank')}")
t = load("gpu_tests.json")
if t:
    print(f"  gpu tests: {t['tests']} run, {t['failures']} failed, {t.get('disabled', 0)} disabled")
b = load("bench_gpu.json")
if b:
    print(f"  {'gpu search (ms per 1024-query search)':<52} {'ms':>9} {'TFLOP/s':>8} {'ceiling':>8} {'rescans':>8} {'rows/q':>7} {'host ms':>8}")
    for x in b["benchmarks"]:
        if "ms" in x:
            ceiling = f"{100 * x['of_ceiling']:.1f}%" if "of_ceiling" in x else "-"
            rescans = f"{x['rescanned']:.0f}" if "rescanned" in x else "-"
            rows = f"{x['rescored']:.0f}" if "rescored" in x else "-"
            host = f"{x['rescore_ms']:.3f}" if "rescore_ms" in x else "-"  # exact rescoring
            print(f"  {x['name']:<52} {x['ms']:>9.3f} {x['TFLOP/s']:>8.1f} {ceiling:>8} {rescans:>8} {rows:>7} {host:>8}")
        else:
            extra = {k: round(v, 4) for k, v in x.items() if k in ("recall_int8_raw", "recall_int8_ours")}
            print(f"  {x['name']:<52} {extra}")
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
