// Exact top-k on a GPU (figures, not a test), Q = 1024 queries, bfloat16, on one card:
//   fused     our ShardIndex with search.kernel = fused (the CUDA kernel, fused_topk.h: a Hopper
//             one on a 9.0 device, else the portable one, compiled for the dim where there is
//             one); fused_fixed with the Hopper kernels off, fused_generic with the portable
//             kernel for any dim, fused_fp16 the default on a float16 shard (D = 384); the
//             label names the kernel that ran
//   window    the fused kernel alone on the resident shard (scan + merge, no rescoring):
//             window_generic, and with ELEANOR_BENCH_SM90=1 window_sm90 (registers at
//             D = 384), window_sm90smem and window_sm90x2 (registers, pairs of blocks)
//   floors    (ELEANOR_BENCH_FLOORS=1) the floor scan (ELEANOR_FUSED_FLOORS=1: a sample pass
//             for each query's floor, then every row above it): window_sm90floors and the whole
//             search, fused_sm90floors
//   phases    (ELEANOR_BENCH_SM90=1) each Hopper scan's profiled build: where its time goes
//             (cycles per tile waiting for rows, in the products, in the selection); products
//             the same without the selection; phases-grouped, -narrow, -deep, -prefetch and
//             -deep-prefetch: alternatives of the selection and the pipeline (fused_topk.h's
//             FusedScanVariant)
//   matmul    our ShardIndex with search.kernel = matmul (tiled mm, each tile's window, then
//             exact rescoring): after the first tile, the scores above the running windows'
//             floors; matmul_tilewindow the same with ELEANOR_MATMUL_FLOORS=0 (group maxima and
//             topk in every tile, as before)
//   libtorch  LibTorch's own mm + topk (approximate: no rescoring), the reference point
// for N = 1M and 4M precedents, D = 384 and 768, k = 10 and 100; int8 shards (matmul path, and
// fused_int8: the portable kernel, opt-in ELEANOR_FUSED_INT8=1) with the raw int8 recall@10
// against float32; and the ceiling: a large bf16 at::mm in the same run.
// Each row reports ms, TFLOP/s (2·Q·N·D per search) and of_ceiling (TFLOP/s over the ceiling's).
// Needs a CUDA LibTorch and a GPU; elsewhere it says so and exits 0.
//   bench_gpu_search [--benchmark_filter=...]
//   ELEANOR_BENCH_SM90=1 adds the Hopper kernels' window rows (each variant on its own),
//   ELEANOR_BENCH_FUSED_INT8=1 the fused_int8 rows, ELEANOR_BENCH_FLOORS=1 the floor scan's
//   sizes: ELEANOR_BENCH_Q (1024); ELEANOR_BENCH_N / _D / _K restrict to one value each
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/fused_gpu_window.h"
#include "worker/retrieval/shard_index.h"

namespace {

using eleanor::Candidate;
using eleanor::Matrix;

int64_t envOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoll(value) : fallback;
}

// The values of a size, or just the one the environment names.
std::vector<int64_t> sizes(const char* name, std::vector<int64_t> all) {
  const int64_t only = envOr(name, 0);
  return only > 0 ? std::vector<int64_t>{only} : all;
}

const int64_t kQ = envOr("ELEANOR_BENCH_Q", 1024);
const at::Device kGpu(at::kCUDA, 0);
double ceilingTflops = 0.0;  // measured by the ceiling benchmark, which runs first

Matrix toMatrix(const at::Tensor& t) {
  const at::Tensor host = t.to(at::kCPU, at::kFloat).contiguous();
  Matrix m(host.size(0), host.size(1));
  std::memcpy(m.values.data(), host.data_ptr<float>(), m.values.size() * sizeof(float));
  return m;
}

// Unit-length random rows of one (N, D), made on the GPU and kept on host for the indexes,
// with the indexes built on them. One set at a time: the benchmarks are registered grouped
// by (N, D), and moving to the next set frees the last (4M x 768 is 12 GB of float32).
struct Data {
  int64_t n = 0, d = 0;
  Matrix corpus;
  Matrix queries;
  at::Tensor corpusGpu;   // bfloat16, for LibTorch's own path
  at::Tensor queriesGpu;  // bfloat16
  std::map<std::string, std::unique_ptr<eleanor::ShardIndex>> indexes;  // by kernel / storage
};
std::unique_ptr<Data> current;

Data& data(int64_t n, int64_t d) {
  if (current && current->n == n && current->d == d) return *current;
  current.reset();
  at::manual_seed(1234);
  auto slot = std::make_unique<Data>();
  slot->n = n;
  slot->d = d;
  at::Tensor p = at::randn({n, d}, at::TensorOptions().device(kGpu));
  p = p / p.norm(2, 1, true);
  at::Tensor q = at::randn({kQ, d}, at::TensorOptions().device(kGpu));
  q = q / q.norm(2, 1, true);
  slot->corpus = toMatrix(p);
  slot->queries = toMatrix(q);
  slot->corpusGpu = p.to(at::kBFloat16);
  slot->queriesGpu = q.to(at::kBFloat16);
  current = std::move(slot);
  return *current;
}

// storage: "fused" (the default kernel), "fused_fixed" (the portable kernel compiled for the
// dim), "fused_generic" (the portable kernel for any dim), "fused_fp16" (the default kernel on
// a float16 shard), "matmul" (bfloat16; and
// "matmul_tilewindow", the same index without the floors), "int8" (matmul path) or
// "fused_int8" (an int8 shard through the portable kernel, ELEANOR_FUSED_INT8=1).
eleanor::ShardIndex& index(Data& data, const std::string& storage) {
  // The bfloat16 fused variants are one index, searched with their variable set (no second
  // shard copy).
  const bool bf16Fused =
      storage.rfind("fused", 0) == 0 && storage != "fused_int8" && storage != "fused_fp16";
  auto& slot = data.indexes[bf16Fused                        ? "fused"
                            : storage == "matmul_tilewindow" ? "matmul"
                                                             : storage];
  if (!slot) {
    eleanor::SearchOptions options;
    options.cudaDevice = 0;
    options.dtype = storage == "fused_fp16" ? "float16" : "bfloat16";
    options.int8 = storage == "int8" || storage == "fused_int8";
    options.kernel = storage.rfind("fused", 0) == 0 ? "fused" : "matmul";
    options.memoryBudgetBytes = 4LL << 30;
    slot = eleanor::makeShardIndex(data.corpus, 0, options);
  }
  return *slot;
}

// The variables (and values) that choose a fused variant's kernel; none for the default.
using Switches = std::vector<std::pair<const char*, const char*>>;
Switches switchesFor(const std::string& storage) {
  if (storage == "fused_generic" || storage == "generic")
    return {{"ELEANOR_FUSED_SM90", "0"}, {"ELEANOR_FUSED_FIXED_DIM", "0"}};
  if (storage == "fused_fixed") return {{"ELEANOR_FUSED_SM90", "0"}};
  if (storage == "matmul_tilewindow") return {{"ELEANOR_MATMUL_FLOORS", "0"}};
  if (storage == "fused_int8") return {{"ELEANOR_FUSED_INT8", "1"}};
  if (storage == "sm90") return {{"ELEANOR_FUSED_SM90", "1"}};
  if (storage == "sm90smem") return {{"ELEANOR_FUSED_SM90", "smem"}};
  if (storage == "sm90floors" || storage == "fused_sm90floors")
    return {{"ELEANOR_FUSED_SM90", "1"}, {"ELEANOR_FUSED_FLOORS", "1"}};
  if (storage == "sm90x2")
    return {{"ELEANOR_FUSED_SM90", "1"}, {"ELEANOR_FUSED_SM90_CLUSTER", "2"}};
  return {};
}

// Sets a variant's variables while it lives.
struct ScopedSwitches {
  explicit ScopedSwitches(Switches s) : switches(std::move(s)) {
    for (const auto& [name, value] : switches) setenv(name, value, 1);
  }
  ~ScopedSwitches() {
    for (const auto& [name, value] : switches) unsetenv(name);
  }
  Switches switches;
};

// Times the loop with a steady clock (every iteration ends synchronised with the GPU) and
// reports ms per search, TFLOP/s and the fraction of the ceiling.
template <class Body>
void timed(benchmark::State& state, int64_t n, int64_t d, int k, Body&& body) {
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) body();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double perSearch = seconds / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
  const double tflops = 2.0 * static_cast<double>(kQ) * n * d / perSearch / 1e12;
  state.counters["ms"] = perSearch * 1e3;
  state.counters["TFLOP/s"] = tflops;
  if (ceilingTflops > 0) state.counters["of_ceiling"] = tflops / ceilingTflops;
  state.SetLabel(fmt::format("Q={} N={} D={} k={}", kQ, n, d, k));
}

void ours(benchmark::State& state, int64_t n, int64_t d, int k, std::string storage) {
  Data& set = data(n, d);
  auto& idx = index(set, storage);
  const ScopedSwitches switched(switchesFor(storage));
  std::vector<Candidate> out;
  idx.search(set.queries, k, out);  // warm-up: allocator, cuBLAS handles, kernel attributes
  const eleanor::SearchStats before = idx.stats();
  timed(state, n, d, k, [&] { idx.search(set.queries, k, out); });  // results on host: synchronous
  const eleanor::SearchStats after = idx.stats();
  const double searches = static_cast<double>(std::max<int64_t>(state.iterations(), 1));
  // Queries scanned again per search, and rows rescored in double per query (the windows).
  state.counters["rescanned"] =
      static_cast<double>(after.rescannedQueries - before.rescannedQueries) / searches;
  state.counters["rescored"] =
      static_cast<double>(after.rescoredRows - before.rescoredRows) / searches / kQ;
  // Of `ms`, the exact double rescoring on the host (its threads: the CPU's, not the GPU's).
  state.counters["rescore_ms"] = 1e3 * (after.rescoreSeconds - before.rescoreSeconds) / searches;
  // Of `ms`, the GPU's part: queries to the device, scoring, the windows back on the host.
  state.counters["window_ms"] = 1e3 * (after.windowSeconds - before.windowSeconds) / searches;
  // The host's part: the queries' bounds (worked out while the GPU scores, so inside
  // window_ms), then after the window the exact answers (rescoring, rescans); what is left of
  // `ms` is the search's own bookkeeping.
  state.counters["bounds_ms"] = 1e3 * (after.boundsSeconds - before.boundsSeconds) / searches;
  state.counters["exact_ms"] = 1e3 * (after.exactSeconds - before.exactSeconds) / searches;
  if (storage.rfind("fused", 0) == 0) {
    state.SetLabel(fmt::format("Q={} N={} D={} k={} kernel={}", kQ, n, d, k,
                               eleanor::fusedTileWindowLastKernel()));
  } else {  // the matrix path: its tiles per search, and how many the floors served
    state.SetLabel(fmt::format(
        "Q={} N={} D={} k={} kernel=matmul, {:.0f} of {:.0f} tiles above floors", kQ, n, d, k,
        static_cast<double>(after.matrixTilesAboveFloors - before.matrixTilesAboveFloors) /
            searches,
        static_cast<double>(after.matrixTiles - before.matrixTiles) / searches));
  }
}

// The fused kernel alone on the resident bf16 shard: one window of `keep` (the index's for k)
// per query, scan and merge, ending with a 1-element copy to the host (a synchronisation).
void window(benchmark::State& state, int64_t n, int64_t d, int k, std::string kernel) {
  Data& set = data(n, d);
  const int64_t keep = eleanor::fusedWindowKeep(k);
  const ScopedSwitches switched(switchesFor(kernel));
  const std::string why = eleanor::fusedWindowUnsupported(set.queriesGpu, keep);
  if (!why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  eleanor::fusedTileWindow(set.queriesGpu, set.corpusGpu, keep);  // warm-up
  timed(state, n, d, k, [&] {
    auto [values, rows] = eleanor::fusedTileWindow(set.queriesGpu, set.corpusGpu, keep);
    benchmark::DoNotOptimize(rows[0][0].item<int64_t>());  // waits for the GPU
  });
  state.SetLabel(fmt::format("Q={} N={} D={} k={} keep={} kernel={}", kQ, n, d, k, keep,
                             eleanor::fusedTileWindowLastKernel()));
}

// Where a Hopper scan's time goes (fusedTopKPhases): the kernel's profiled build, one scan per
// iteration (no merge), ms from CUDA events around it; per consumer warp and row tile, cycles
// waiting for rows (wait_cyc), in the products (mma_cyc), in the selection (select_cyc) and
// in the whole loop (tile_cyc); cut rounds per warp; the fraction of tiles where some lane
// looked at every score (slow_tiles); the loads' wait for released stages per block
// (producer_wait_cyc); the SM clock the loop ran at (MHz). `variant`: the search's scan, the
// products and the pipeline alone (select false), or an alternative (fused_topk.h).
void phases(benchmark::State& state, int64_t n, int64_t d, int k, std::string kernel,
            eleanor::FusedScanVariant variant) {
  Data& set = data(n, d);
  const int64_t keep = eleanor::fusedWindowKeep(k);
  const ScopedSwitches switched(switchesFor(kernel));
  eleanor::FusedScanPhases out;
  std::string why =
      eleanor::fusedTileWindowPhases(set.queriesGpu, set.corpusGpu, keep, variant, out);
  if (!why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  double ms = 0;
  int64_t runs = 0;
  for (auto _ : state) {
    why = eleanor::fusedTileWindowPhases(set.queriesGpu, set.corpusGpu, keep, variant, out);
    if (!why.empty()) {
      state.SkipWithError(why.c_str());
      break;
    }
    ms += out.milliseconds;
    ++runs;
  }
  ms /= static_cast<double>(std::max<int64_t>(runs, 1));
  const double tflops = 2.0 * static_cast<double>(kQ) * n * d / (ms * 1e-3) / 1e12;
  state.counters["ms"] = ms;
  state.counters["TFLOP/s"] = tflops;
  if (ceilingTflops > 0) state.counters["of_ceiling"] = tflops / ceilingTflops;
  state.counters["wait_cyc"] = out.waitCycles;
  state.counters["mma_cyc"] = out.productCycles;
  state.counters["select_cyc"] = out.selectCycles;
  state.counters["tile_cyc"] = out.loopCycles;
  state.counters["cut_rounds"] = out.cutRounds;
  state.counters["slow_tiles"] = out.slowTiles;
  state.counters["producer_wait_cyc"] = out.producerWaitCycles;
  state.counters["partials_cyc"] = out.partialCycles;
  state.counters["MHz"] = out.megahertz;
  std::string what = variant.select ? "" : " no selection";
  if (variant.groupedOffer) what += " grouped offer";
  if (variant.capacity) what += fmt::format(" capacity {}", variant.capacity);
  if (variant.deepRing) what += " deep ring";
  if (variant.prefetchAhead)
    what += fmt::format(" prefetch {} stages ahead", variant.prefetchAhead);
  state.SetLabel(fmt::format("Q={} N={} D={} k={} keep={} kernel={} blocks={} tiles={:.0f}{}", kQ,
                             n, d, k, keep, out.kernel, out.blocks, out.tiles, what));
}

void torchMmTopk(benchmark::State& state, int64_t n, int64_t d, int k) {
  Data& set = data(n, d);
  timed(state, n, d, k, [&] {
    auto [values, rows] = at::mm(set.queriesGpu, set.corpusGpu.t()).topk(k, 1);
    benchmark::DoNotOptimize(rows.to(at::kCPU).data_ptr<int64_t>());  // waits for the GPU
  });
}

// The card's bf16 matrix-product rate as LibTorch reaches it: 8192^3, five per iteration.
void ceiling(benchmark::State& state) {
  const int64_t m = 8192;
  const auto options = at::TensorOptions().device(kGpu).dtype(at::kBFloat16);
  const at::Tensor a = at::randn({m, m}, options), b = at::randn({m, m}, options);
  at::Tensor c = at::empty({m, m}, options);
  at::mm_out(c, a, b);
  c[0][0].item<float>();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (int i = 0; i < 5; ++i) at::mm_out(c, a, b);
    benchmark::DoNotOptimize(c[0][0].item<float>());  // waits for the GPU
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double perProduct = seconds / (5.0 * static_cast<double>(state.iterations()));
  ceilingTflops = 2.0 * m * m * m / perProduct / 1e12;
  state.counters["ms"] = perProduct * 1e3;
  state.counters["TFLOP/s"] = ceilingTflops;
  state.SetLabel(fmt::format("bf16 mm {}x{}x{}", m, m, m));
}

// recall@k of int8 scores alone (before our exact rescoring) and of our int8 index, against
// the exact float32 answer.
void int8Recall(benchmark::State& state, int64_t n, int64_t d, int k) {
  Data& set = data(n, d);
  std::vector<Candidate> exact, ours;
  eleanor::SearchOptions reference;
  reference.cudaDevice = 0;
  reference.dtype = "float32";
  reference.kernel = "matmul";
  eleanor::makeShardIndex(set.corpus, 0, reference)->search(set.queries, k, exact);
  index(set, "int8").search(set.queries, k, ours);
  // Raw int8 ranking: the index's quantisation, scored and ranked without rescoring.
  const at::Tensor p = at::from_blob(const_cast<float*>(set.corpus.values.data()), {n, d}).to(kGpu);
  const at::Tensor scale = p.abs().amax(1).div(127.0f).clamp_min(1e-30f);
  const at::Tensor q8 = p.div(scale.unsqueeze(1)).round().clamp(-127, 127);
  const at::Tensor rawScores =
      at::mm(set.queriesGpu, q8.to(at::kBFloat16).t()).to(at::kFloat).mul(scale.unsqueeze(0));
  const at::Tensor raw = std::get<1>(rawScores.topk(k, 1)).to(at::kCPU).contiguous();
  const int64_t* rawRows = raw.data_ptr<int64_t>();
  int64_t rawHits = 0, oursHits = 0;
  for (int64_t i = 0; i < kQ; ++i) {
    for (int a = 0; a < k; ++a) {
      const int64_t want = exact[i * k + a].row;
      for (int b = 0; b < k; ++b) {
        rawHits += rawRows[i * k + b] == want;
        oursHits += ours[i * k + b].row == want;
      }
    }
  }
  for (auto _ : state) benchmark::DoNotOptimize(rawHits);
  state.counters["recall_int8_raw"] = static_cast<double>(rawHits) / static_cast<double>(kQ * k);
  state.counters["recall_int8_ours"] = static_cast<double>(oursHits) / static_cast<double>(kQ * k);
  state.SetLabel(fmt::format("Q={} N={} D={} k={}", kQ, n, d, k));
}

}  // namespace

int main(int argc, char** argv) {
  eleanor::initLogging();  // the index's warnings to stderr: stdout may be the JSON report
  if (!at::hasCUDA()) {
    std::printf("bench_gpu_search: this LibTorch has no CUDA or there is no GPU: nothing to do\n");
    return 0;
  }
  const auto configure = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(0.3);
  };
  configure(benchmark::RegisterBenchmark("gpu_search/ceiling_mm_bf16", ceiling));
  // Each Hopper kernel's window rows (window_sm90, window_sm90smem, window_sm90x2) only with
  // ELEANOR_BENCH_SM90=1 (scripts/gpu-check.sh: a run of their own).
  const bool hopperRows = envOr("ELEANOR_BENCH_SM90", 0) == 1;
  // int8 shards through the fused kernel (opt-in) only with ELEANOR_BENCH_FUSED_INT8=1
  // (scripts/gpu-check.sh: a run of their own until the kernel has run on a GPU).
  const bool fusedInt8Rows = envOr("ELEANOR_BENCH_FUSED_INT8", 0) == 1;
  // The floor scan (opt-in) only with ELEANOR_BENCH_FLOORS=1 (scripts/gpu-check.sh: a run of its
  // own until it has run on a GPU).
  const bool floorRows = envOr("ELEANOR_BENCH_FLOORS", 0) == 1;
  for (const int64_t n : sizes("ELEANOR_BENCH_N", {1000000, 4000000})) {
    for (const int64_t d : sizes("ELEANOR_BENCH_D", {384, 768})) {
      for (const int64_t k64 : sizes("ELEANOR_BENCH_K", {10, 100})) {
        const int k = static_cast<int>(k64);
        const std::string suffix = fmt::format("/N={}/D={}/k={}", n, d, k);
        configure(benchmark::RegisterBenchmark(("gpu_search/fused_bf16" + suffix).c_str(), ours, n,
                                               d, k, std::string("fused")));
        configure(benchmark::RegisterBenchmark(("gpu_search/fused_generic_bf16" + suffix).c_str(),
                                               ours, n, d, k, std::string("fused_generic")));
        // float16 holds unit-length rows with 8x bfloat16's precision at the same product
        // rate: a bound that narrow rescores fewer rows per query (rescored, rescore_ms).
        if (d == 384)
          configure(benchmark::RegisterBenchmark(("gpu_search/fused_fp16" + suffix).c_str(), ours,
                                                 n, d, k, std::string("fused_fp16")));
        configure(benchmark::RegisterBenchmark(("gpu_search/fused_fixed_bf16" + suffix).c_str(),
                                               ours, n, d, k, std::string("fused_fixed")));
        configure(benchmark::RegisterBenchmark(("gpu_search/window_generic_bf16" + suffix).c_str(),
                                               window, n, d, k, std::string("generic")));
        if (hopperRows) {
          // the dim's Hopper kernel; smem; registers in pairs of blocks (opt-in)
          for (const char* kernel : {"sm90", "sm90smem", "sm90x2"})
            configure(benchmark::RegisterBenchmark(
                fmt::format("gpu_search/window_{}_bf16{}", kernel, suffix).c_str(), window, n, d, k,
                std::string(kernel)));
          // each scan's profiled build: phases (the search's scan), products (no selection),
          // and the alternatives: the quick rejection per group of 8 scores, buffers of
          // keep + 32 candidates per query (cut twice as often, thresholds fresher), and 8
          // stages of rows in flight instead of 6 (registers kernels; buffers of keep + 32),
          // rows hinted into L2 two tiles (12 stages) before their loads, and both of those
          std::vector<std::pair<std::string, eleanor::FusedScanVariant>> variants(7);
          variants[0].first = "phases";
          variants[1].first = "products";
          variants[1].second.select = false;
          variants[2].first = "phases-grouped";
          variants[2].second.groupedOffer = true;
          variants[3].first = "phases-narrow";
          variants[3].second.capacity =
              static_cast<int>((eleanor::fusedWindowKeep(k) + 31) / 32 * 32 + 32);
          variants[4].first = "phases-deep";
          variants[4].second.deepRing = true;
          variants[5].first = "phases-prefetch";
          variants[5].second.prefetchAhead = 12;
          variants[6].first = "phases-deep-prefetch";
          variants[6].second.deepRing = true;
          variants[6].second.prefetchAhead = 12;
          for (const char* kernel : {"sm90", "sm90smem", "sm90x2"})
            for (const auto& [name, variant] : variants)
              configure(benchmark::RegisterBenchmark(
                  fmt::format("gpu_search/{}_{}_bf16{}", name, kernel, suffix).c_str(), phases, n,
                  d, k, std::string(kernel), variant));
        }
        if (floorRows) {
          configure(
              benchmark::RegisterBenchmark(("gpu_search/window_sm90floors_bf16" + suffix).c_str(),
                                           window, n, d, k, std::string("sm90floors")));
          configure(
              benchmark::RegisterBenchmark(("gpu_search/fused_sm90floors_bf16" + suffix).c_str(),
                                           ours, n, d, k, std::string("fused_sm90floors")));
        }
        configure(benchmark::RegisterBenchmark(("gpu_search/matmul_bf16" + suffix).c_str(), ours, n,
                                               d, k, std::string("matmul")));
        configure(
            benchmark::RegisterBenchmark(("gpu_search/matmul_tilewindow_bf16" + suffix).c_str(),
                                         ours, n, d, k, std::string("matmul_tilewindow")));
        configure(benchmark::RegisterBenchmark(
            ("gpu_search/libtorch_mm_topk_bf16" + suffix).c_str(), torchMmTopk, n, d, k));
      }
      if (d == 384) {
        configure(benchmark::RegisterBenchmark(
            fmt::format("gpu_search/matmul_int8/N={}/D={}/k=10", n, d).c_str(), ours, n, d, 10,
            std::string("int8")));
        if (fusedInt8Rows)
          configure(benchmark::RegisterBenchmark(
              fmt::format("gpu_search/fused_int8/N={}/D={}/k=10", n, d).c_str(), ours, n, d, 10,
              std::string("fused_int8")));
        if (n == 1000000)
          benchmark::RegisterBenchmark(
              fmt::format("gpu_search/int8_recall/N={}/D={}/k=10", n, d).c_str(), int8Recall, n, d,
              10)
              ->Iterations(1);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  current.reset();
  return 0;
}
