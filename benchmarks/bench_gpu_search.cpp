// Exact top-k on a GPU (figures, not a test): our ShardIndex on the device against LibTorch's
// own mm + topk on the same card, for Q = 1024 queries, N = 1M and 4M precedents, D = 384,
// k = 10, bfloat16; int8 shards with their recall@10 against float32. Needs a CUDA LibTorch
// and a GPU; elsewhere it says so and exits 0.
//   bench_gpu_search [--benchmark_filter=...]   sizes: ELEANOR_BENCH_Q / _D / _K
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/shard_index.h"

namespace {

using eleanor::Candidate;
using eleanor::Matrix;

int64_t envOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoll(value) : fallback;
}

const int64_t kQ = envOr("ELEANOR_BENCH_Q", 1024);
const int64_t kD = envOr("ELEANOR_BENCH_D", 384);
const int kK = static_cast<int>(envOr("ELEANOR_BENCH_K", 10));
const at::Device kGpu(at::kCUDA, 0);

Matrix toMatrix(const at::Tensor& t) {
  const at::Tensor host = t.to(at::kCPU, at::kFloat).contiguous();
  Matrix m(host.size(0), host.size(1));
  std::memcpy(m.values.data(), host.data_ptr<float>(), m.values.size() * sizeof(float));
  return m;
}

// Unit-length random rows, made on the GPU (fast) and kept on host for the index.
struct Data {
  Matrix corpus;
  Matrix queries;
  at::Tensor corpusGpu;   // bfloat16, for LibTorch's own path
  at::Tensor queriesGpu;  // bfloat16
};

const Data& data(int64_t n) {
  static std::map<int64_t, std::unique_ptr<Data>> cache;
  auto& slot = cache[n];
  if (!slot) {
    at::manual_seed(1234);
    slot = std::make_unique<Data>();
    at::Tensor p = at::randn({n, kD}, at::TensorOptions().device(kGpu));
    p = p / p.norm(2, 1, true);
    at::Tensor q = at::randn({kQ, kD}, at::TensorOptions().device(kGpu));
    q = q / q.norm(2, 1, true);
    slot->corpus = toMatrix(p);
    slot->queries = toMatrix(q);
    slot->corpusGpu = p.to(at::kBFloat16);
    slot->queriesGpu = q.to(at::kBFloat16);
  }
  return *slot;
}

eleanor::ShardIndex& index(int64_t n, bool int8) {
  static std::map<std::pair<int64_t, bool>, std::unique_ptr<eleanor::ShardIndex>> cache;
  auto& slot = cache[{n, int8}];
  if (!slot) {
    eleanor::SearchOptions options;
    options.cudaDevice = 0;
    options.dtype = "bfloat16";
    options.int8 = int8;
    options.memoryBudgetBytes = 4LL << 30;
    slot = eleanor::makeShardIndex(data(n).corpus, 0, options);
  }
  return *slot;
}

void counters(benchmark::State& state, int64_t n) {
  const double flops = 2.0 * kQ * n * kD;
  state.counters["TFLOP/s"] =
      benchmark::Counter(flops * state.iterations() / 1e12, benchmark::Counter::kIsRate);
  state.SetLabel(fmt::format("Q={} N={} D={} k={}", kQ, n, kD, kK));
}

void ours(benchmark::State& state, bool int8) {
  const int64_t n = state.range(0);
  auto& idx = index(n, int8);
  std::vector<Candidate> out;
  for (auto _ : state) idx.search(data(n).queries, kK, out);  // returns on host: synchronous
  counters(state, n);
  const auto stats = idx.stats();
  state.counters["rescanned"] = static_cast<double>(stats.rescannedQueries);
}

void torchMmTopk(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Data& d = data(n);
  for (auto _ : state) {
    auto [values, rows] = at::mm(d.queriesGpu, d.corpusGpu.t()).topk(kK, 1);
    benchmark::DoNotOptimize(rows.to(at::kCPU).data_ptr<int64_t>());  // waits for the GPU
  }
  counters(state, n);
}

// recall@k of int8 scores alone (before our exact rescoring) and of our int8 index, against
// the exact float32 answer.
void int8Recall(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Data& d = data(n);
  std::vector<Candidate> exact, ours;
  eleanor::SearchOptions cpuExact;
  cpuExact.cudaDevice = 0;
  cpuExact.dtype = "float32";
  auto reference = eleanor::makeShardIndex(d.corpus, 0, cpuExact);
  reference->search(d.queries, kK, exact);
  index(n, true).search(d.queries, kK, ours);
  // Raw int8 ranking: the index's quantisation, scored and ranked without rescoring.
  const at::Tensor p = at::from_blob(const_cast<float*>(d.corpus.values.data()), {n, kD}).to(kGpu);
  const at::Tensor scale = p.abs().amax(1).div(127.0f).clamp_min(1e-30f);
  const at::Tensor q8 = p.div(scale.unsqueeze(1)).round().clamp(-127, 127);
  const at::Tensor rawScores =
      at::mm(d.queriesGpu, q8.to(at::kBFloat16).t()).to(at::kFloat).mul(scale.unsqueeze(0));
  const at::Tensor raw = std::get<1>(rawScores.topk(kK, 1)).to(at::kCPU).contiguous();
  const int64_t* rawRows = raw.data_ptr<int64_t>();
  int64_t rawHits = 0, oursHits = 0;
  for (int64_t i = 0; i < kQ; ++i) {
    for (int a = 0; a < kK; ++a) {
      const int64_t want = exact[i * kK + a].row;
      for (int b = 0; b < kK; ++b) {
        rawHits += rawRows[i * kK + b] == want;
        oursHits += ours[i * kK + b].row == want;
      }
    }
  }
  for (auto _ : state) benchmark::DoNotOptimize(rawHits);
  state.counters["recall_int8_raw"] = static_cast<double>(rawHits) / (kQ * kK);
  state.counters["recall_int8_ours"] = static_cast<double>(oursHits) / (kQ * kK);
  state.SetLabel(fmt::format("Q={} N={} D={} k={}", kQ, n, kD, kK));
}

}  // namespace

int main(int argc, char** argv) {
  if (!at::hasCUDA()) {
    std::printf("bench_gpu_search: this LibTorch has no CUDA or there is no GPU: nothing to do\n");
    return 0;
  }
  for (const int64_t n : {1000000LL, 4000000LL}) {
    benchmark::RegisterBenchmark("gpu_search/eleanor_bf16", ours, false)->Arg(n);
    benchmark::RegisterBenchmark("gpu_search/libtorch_mm_topk_bf16", torchMmTopk)->Arg(n);
    benchmark::RegisterBenchmark("gpu_search/eleanor_int8", ours, true)->Arg(n);
  }
  benchmark::RegisterBenchmark("gpu_search/int8_recall", int8Recall)->Arg(1000000)->Iterations(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
