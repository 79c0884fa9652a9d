// The per-case work after the search, on one thread: the aggregator's decision and the case's
// line of results.jsonl (6 critics, top 10 precedents, as the sample job writes). At a million
// cases a second rank-wide budget of a few microseconds a case, these decide whether the
// aggregate stage or the search bounds a CPU job.
//
//   build/bin/bench_result_line
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>

#include "worker/aggregate/aggregator.h"
#include "worker/output/case_result.h"

namespace {

const std::vector<std::string> kCritics{"rights", "autonomy", "fairness",
                                        "truth",  "risk",     "operations"};

// A case like the sample's: one critic with a flag, ten precedents with similarities in (0, 1).
eleanor::CaseResult sampleCase(std::mt19937& random, const eleanor::Aggregator& aggregator) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  eleanor::CaseResult result;
  result.id = fmt::format("c{}", random() % 1000000);
  result.rawSeverities.assign(kCritics.size(), 0.0);
  result.flags.assign(kCritics.size(), {});
  result.rawSeverities[random() % kCritics.size()] = 3 * unit(random);
  result.flags[2] = {"outcome_disparity"};
  std::vector<eleanor::PrecedentSignal> signals;
  for (int p = 0; p < 10; ++p) {
    const double similarity = unit(random);
    const char* decision = p % 3 == 0 ? "deny" : "allow";
    result.precedents.push_back({fmt::format("p{}", random() % 10000), similarity, decision});
    eleanor::PrecedentSignal signal;
    signal.similarity = similarity;
    signal.decision = eleanor::parseDecision(decision);
    signals.push_back(signal);
  }
  result.aggregate = aggregator.aggregate({result.rawSeverities, signals});
  return result;
}

void BM_FormatResultLine(benchmark::State& state) {
  std::mt19937 random(1);
  const eleanor::Aggregator aggregator({}, kCritics);
  std::vector<eleanor::CaseResult> cases;
  for (int i = 0; i < 256; ++i) cases.push_back(sampleCase(random, aggregator));
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const std::string line = eleanor::formatResultLine(cases[i++ % cases.size()], kCritics);
    bytes += static_cast<int64_t>(line.size());
    benchmark::DoNotOptimize(line.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_FormatResultLine);

void BM_Aggregate(benchmark::State& state) {
  std::mt19937 random(2);
  const eleanor::Aggregator aggregator({}, kCritics);
  std::vector<std::vector<double>> severities;
  std::vector<std::vector<eleanor::PrecedentSignal>> signals;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int i = 0; i < 256; ++i) {
    severities.emplace_back(kCritics.size(), 0.0);
    severities.back()[static_cast<size_t>(i) % kCritics.size()] = 3 * unit(random);
    signals.emplace_back();
    for (int p = 0; p < 10; ++p) {
      eleanor::PrecedentSignal signal;
      signal.similarity = unit(random);
      signal.decision = p % 3 == 0 ? eleanor::Decision::kDeny : eleanor::Decision::kAllow;
      signal.severities = {unit(random)};
      signals.back().push_back(signal);
    }
  }
  size_t i = 0;
  for (auto _ : state) {
    const size_t at = i++ % severities.size();
    benchmark::DoNotOptimize(aggregator.aggregate({severities[at], signals[at]}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Aggregate);

}  // namespace

BENCHMARK_MAIN();
