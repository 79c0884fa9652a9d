// Exact top-k search on the CPU, the same data and threads for every method:
//   eleanor_fused       our ShardIndex, blocked sgemm tiles + a bounded window per query
//                       (search.cpu_dtype: float32)
//   eleanor_fused_bf16  the same scoring bfloat16 tiles through oneDNN (search.cpu_dtype:
//                       bfloat16; only where the CPU has AMX or AVX512-BF16, or
//                       ELEANOR_BENCH_BF16 is set)
//   eleanor_matmul      our ShardIndex, LibTorch tiles + topk (search.kernel: matmul)
//   libtorch_mm_topk    LibTorch's plain mm + topk over the whole Q × N score matrix
// All of ours return the exact top-k (double rescoring). Figures: ms per search, GFLOP/s
// (2 Q N D flops per search) and the fraction of the ceiling, a large plain product's GFLOP/s
// on the same threads, measured once at start-up (printed, and in the JSON context as
// sgemm_ceiling_gflops, and bf16_ceiling_gflops for the bfloat16 index); "rescanned" is the
// fraction of queries whose window could not be proven complete and was scanned again, and
// "rescored" the rows per query scored again in double precision (the window's cost), and
// "rescore_ms" the time of that rescoring per search.
//
// Shapes: ELEANOR_BENCH_SIZES = "NxDxk,..." (e.g. 1000000x768x100), or "all" for the issue's
// grid (N 100k/1M/4M × D 384/768 × k 10/100; 4M × 768 needs about 13 GiB). Default: 100k and
// 1M at D = 384, k = 10 and 100. Queries: ELEANOR_BENCH_Q (1024). The old single-shape
// variables ELEANOR_BENCH_N / _D / _K still work when ELEANOR_BENCH_SIZES is unset.
// libtorch_mm_topk holds the whole score matrix: it is skipped (with a message) above
// ELEANOR_BENCH_MAX_SCORES_GB (default 8) of scores.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/blas_core.h"
#include "common/cpu_features.h"
#include "common/log.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/shard_index.h"

namespace {

int64_t envOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoll(value) : fallback;
}

struct Shape {
  int64_t q = 1024;
  int64_t n = 0;
  int64_t d = 0;
  int k = 0;
  double flops() const { return 2.0 * static_cast<double>(q) * n * d; }
  std::string tag() const { return fmt::format("Q{}_N{}_D{}_k{}", q, n, d, k); }
  std::string label() const { return fmt::format("Q={} N={} D={} k={}", q, n, d, k); }
};

std::vector<Shape> selectedShapes() {
  const int64_t q = envOr("ELEANOR_BENCH_Q", 1024);
  const char* sizes = std::getenv("ELEANOR_BENCH_SIZES");
  std::vector<Shape> shapes;
  if (!sizes || !*sizes) {
    if (std::getenv("ELEANOR_BENCH_N") || std::getenv("ELEANOR_BENCH_D") ||
        std::getenv("ELEANOR_BENCH_K"))
      return {{q, envOr("ELEANOR_BENCH_N", 100000), envOr("ELEANOR_BENCH_D", 384),
               static_cast<int>(envOr("ELEANOR_BENCH_K", 10))}};
    sizes = "100000x384x10,100000x384x100,1000000x384x10,1000000x384x100";
  }
  if (std::string(sizes) == "all") {
    for (const int64_t n : {100000, 1000000, 4000000})
      for (const int64_t d : {384, 768})
        for (const int k : {10, 100}) shapes.push_back({q, n, d, k});
    return shapes;
  }
  std::stringstream list(sizes);
  for (std::string item; std::getline(list, item, ',');) {
    Shape s{q};
    char x1 = 0, x2 = 0;
    std::stringstream in(item);
    if (!(in >> s.n >> x1 >> s.d >> x2 >> s.k) || x1 != 'x' || x2 != 'x' || s.n < 1 || s.d < 1 ||
        s.k < 1) {
      fmt::print(stderr, "ELEANOR_BENCH_SIZES: '{}' is not NxDxk (e.g. 100000x384x10)\n", item);
      std::exit(2);
    }
    shapes.push_back(s);
  }
  return shapes;
}

// Seeded unit-length rows, drawn by LibTorch (fast for 4M rows) in blocks, so the peak is the
// matrix itself and not twice it. The FAISS side of scripts/bench-search.sh draws its own
// seeded normal rows of the same shapes.
eleanor::Matrix unitRows(int64_t rows, int64_t cols, uint64_t seed) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  eleanor::Matrix m(rows, cols);
  constexpr int64_t kBlock = 65536;
  for (int64_t r = 0; r < rows; r += kBlock) {
    const int64_t count = std::min(kBlock, rows - r);
    const at::Tensor t = at::randn({count, cols}, generator, at::kFloat);
    std::copy(t.data_ptr<float>(), t.data_ptr<float>() + t.numel(), m.row(r).begin());
  }
  eleanor::normalizeRows(m);
  return m;
}

// Each benchmark draws its own copy of the shape's (seeded, so identical) data and hands the
// corpus to the index it measures: one corpus in memory at a time (4M × 768 is 12.3 GB).
eleanor::Matrix corpusFor(const Shape& s) {
  return unitRows(s.n, s.d, 42);
}
eleanor::Matrix queriesFor(const Shape& s) {
  return unitRows(s.q, s.d, 7);
}

double gGflopsCeiling = 0;
double gBf16Ceiling = 0;  // the same product in bfloat16 (oneDNN), where the bf16 index runs

// A large plain product on the same threads: the best of a few 4096^3 products.
double measureCeiling(at::ScalarType dtype = at::kFloat) {
  const int64_t m = 4096;
  const at::Tensor a = at::randn({m, m}).to(dtype), b = at::randn({m, m}).to(dtype);
  at::Tensor c = at::empty({m, m}, dtype);
  at::mm_out(c, a, b);  // warm-up: BLAS threads, buffers
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * m * m * m / seconds / 1e9);
  }
  return best;
}

void setCounters(benchmark::State& state, const Shape& s, double ceiling = gGflopsCeiling) {
  const double gflop = s.flops() * static_cast<double>(state.iterations()) / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  state.counters["ceiling_fraction"] =
      benchmark::Counter(gflop / ceiling, benchmark::Counter::kIsRate);
  state.counters["threads"] = at::get_num_threads();
  state.SetLabel(s.label());
}

void ours(benchmark::State& state, Shape s, std::string kernel, std::string cpuDtype) {
  const eleanor::Matrix queries = queriesFor(s);
  eleanor::SearchOptions options;
  options.kernel = kernel;
  options.cpuDtype = cpuDtype;
  const auto index = eleanor::makeCpuShardIndex(corpusFor(s), 0, options);
  std::vector<eleanor::Candidate> out;
  for (auto _ : state) {
    index->search(queries, s.k, out);
    benchmark::DoNotOptimize(out.data());
  }
  setCounters(state, s, cpuDtype == "bfloat16" ? gBf16Ceiling : gGflopsCeiling);
  // Queries whose window could not be proven complete and were scored again over the shard.
  const eleanor::SearchStats stats = index->stats();
  state.counters["rescanned"] =
      static_cast<double>(stats.rescannedQueries) / std::max<int64_t>(stats.queries, 1);
  state.counters["rescored"] =
      static_cast<double>(stats.rescoredRows) / std::max<int64_t>(stats.queries, 1);
  // Of each search's time, the exact double rescoring of the windows.
  state.counters["rescore_ms"] =
      1e3 * stats.rescoreSeconds / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
  if (kernel == "matmul")  // the share of its tiles whose window came from the floors
    state.counters["tiles_above_floors"] =
        static_cast<double>(stats.matrixTilesAboveFloors) / std::max<int64_t>(stats.matrixTiles, 1);
}

void torchMmTopk(benchmark::State& state, Shape s) {
  const double scoresGb = static_cast<double>(s.q) * s.n * 4 / 1e9;
  if (scoresGb > static_cast<double>(envOr("ELEANOR_BENCH_MAX_SCORES_GB", 8))) {
    state.SkipWithError(fmt::format("the {:.1f} GB score matrix is above "
                                    "ELEANOR_BENCH_MAX_SCORES_GB",
                                    scoresGb)
                            .c_str());
    return;
  }
  eleanor::Matrix corpusRows = corpusFor(s), queryRows = queriesFor(s);
  const at::Tensor corpus = at::from_blob(corpusRows.values.data(), {s.n, s.d}, at::kFloat);
  const at::Tensor queries = at::from_blob(queryRows.values.data(), {s.q, s.d}, at::kFloat);
  for (auto _ : state) {
    auto [values, rows] = at::mm(queries, corpus.t()).topk(std::min<int64_t>(s.k, s.n), 1);
    benchmark::DoNotOptimize(rows.data_ptr<int64_t>());
  }
  setCounters(state, s);
}

}  // namespace

int main(int argc, char** argv) {
  eleanor::ensureThreadingEnvironment(argv);  // the worker's threading (common/blas_core.h)
  eleanor::initLogging();  // the index's warnings to stderr: stdout may be the JSON report
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  gGflopsCeiling = measureCeiling();
  fmt::print(stderr, "sgemm ceiling: {:.1f} GFLOP/s (4096^3, {} threads)\n", gGflopsCeiling,
             at::get_num_threads());
  benchmark::AddCustomContext("sgemm_ceiling_gflops", fmt::format("{:.3f}", gGflopsCeiling));
  benchmark::AddCustomContext("blas", eleanor::blasKernelsNote());
  const bool bf16 = eleanor::bf16ProductsFast() || std::getenv("ELEANOR_BENCH_BF16");
  if (bf16) {
    gBf16Ceiling = measureCeiling(at::kBFloat16);
    fmt::print(stderr, "bf16 ceiling: {:.1f} GFLOP/s (4096^3, oneDNN; {})\n", gBf16Ceiling,
               eleanor::matrixUnitsNote());
    benchmark::AddCustomContext("bf16_ceiling_gflops", fmt::format("{:.3f}", gBf16Ceiling));
  }
  for (const Shape& s : selectedShapes()) {
    const auto configure = [](benchmark::internal::Benchmark* b) {
      b->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
    };
    configure(benchmark::RegisterBenchmark(("search/eleanor_fused/" + s.tag()).c_str(), ours, s,
                                           std::string("fused"), std::string("float32")));
    if (bf16) {
      configure(benchmark::RegisterBenchmark(("search/eleanor_fused_bf16/" + s.tag()).c_str(), ours,
                                             s, std::string("fused"), std::string("bfloat16")));
    }
    configure(benchmark::RegisterBenchmark(("search/eleanor_matmul/" + s.tag()).c_str(), ours, s,
                                           std::string("matmul"), std::string("float32")));
    configure(benchmark::RegisterBenchmark(("search/libtorch_mm_topk/" + s.tag()).c_str(),
                                           torchMmTopk, s));
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
