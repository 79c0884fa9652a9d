// Exact top-k search on the CPU: our ShardIndex (tiled float32 products + exact rescoring)
// against LibTorch's own mm + topk over the whole score matrix, run the same way (same data,
// same threads). Figures: ms per search and GFLOP/s (2 Q N D flops per search).
//   bench_search --benchmark_filter=... ; sizes from ELEANOR_BENCH_N / _Q / _D / _K.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <random>

#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/shard_index.h"

namespace {

int64_t envOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoll(value) : fallback;
}

struct Problem {
  int64_t n = envOr("ELEANOR_BENCH_N", 100000);
  int64_t q = envOr("ELEANOR_BENCH_Q", 1024);
  int64_t d = envOr("ELEANOR_BENCH_D", 384);
  int k = static_cast<int>(envOr("ELEANOR_BENCH_K", 10));
  eleanor::Matrix corpus;
  eleanor::Matrix queries;

  Problem() {
    std::mt19937_64 rng(42);
    std::normal_distribution<float> normal;
    corpus = eleanor::Matrix(n, d);
    queries = eleanor::Matrix(q, d);
    for (float& v : corpus.values) v = normal(rng);
    for (float& v : queries.values) v = normal(rng);
    eleanor::normalizeRows(corpus);
    eleanor::normalizeRows(queries);
  }
  double flops() const { return 2.0 * static_cast<double>(q) * n * d; }
};

const Problem& problem() {
  static const Problem p;
  return p;
}

void setCounters(benchmark::State& state) {
  const Problem& p = problem();
  state.counters["GFLOP/s"] =
      benchmark::Counter(p.flops() * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["threads"] = at::get_num_threads();
  state.SetLabel(fmt::format("Q={} N={} D={} k={}", p.q, p.n, p.d, p.k));
}

void ours(benchmark::State& state) {
  const Problem& p = problem();
  const auto index = eleanor::makeCpuShardIndex(p.corpus, 0, {});
  std::vector<eleanor::Candidate> out;
  for (auto _ : state) {
    index->search(p.queries, p.k, out);
    benchmark::DoNotOptimize(out.data());
  }
  setCounters(state);
}

void torchMmTopk(benchmark::State& state) {
  const Problem& p = problem();
  const at::Tensor corpus =
      at::from_blob(const_cast<float*>(p.corpus.values.data()), {p.n, p.d}, at::kFloat);
  const at::Tensor queries =
      at::from_blob(const_cast<float*>(p.queries.values.data()), {p.q, p.d}, at::kFloat);
  for (auto _ : state) {
    auto [values, rows] = at::mm(queries, corpus.t()).topk(p.k, 1);
    benchmark::DoNotOptimize(rows.data_ptr<int64_t>());
  }
  setCounters(state);
}

}  // namespace

BENCHMARK(ours)->Name("search/eleanor_shard_index")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(torchMmTopk)
    ->Name("search/libtorch_mm_topk")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
