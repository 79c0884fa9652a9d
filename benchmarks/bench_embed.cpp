// The TorchScript embedder end to end (figures, not a test): texts in, L2-normalised rows out,
// WordPiece tokenization, length bucketing, the model run and pooling included, on the CPU or
// a GPU, in each dtype. The model, vocabulary and texts come from
//   scripts/export-model.py random DIR --texts 1000 --tokens 128 [--time]
// (a MiniLM-L6-shaped BERT with random weights; --time prints PyTorch's own run for the same
// texts, ids given). Reports ms per call of all the texts, texts/s and tokens/s.
//   ELEANOR_BENCH_MODEL_DIR=DIR [ELEANOR_BENCH_DEVICE=cuda:0] [ELEANOR_BENCH_TEXTS=N] bench_embed
// Without ELEANOR_BENCH_MODEL_DIR it says so and exits 0.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/blas_core.h"
#include "common/log.h"
#include "worker/embed/torchscript_embedder.h"

namespace {

std::string env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::vector<std::string> readTexts(const std::string& path, size_t limit) {
  std::ifstream in(path);
  std::vector<std::string> texts;
  std::string line;
  while (texts.size() < limit && std::getline(in, line))
    texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  return texts;
}

void embedAll(benchmark::State& state, const std::string& dtype) {
  const std::string dir = env("ELEANOR_BENCH_MODEL_DIR");
  const std::string device = env("ELEANOR_BENCH_DEVICE", "cpu");
  const std::vector<std::string> texts =
      readTexts(dir + "/texts.jsonl",
                static_cast<size_t>(std::atoll(env("ELEANOR_BENCH_TEXTS", "1000").c_str())));
  std::vector<std::string_view> views(texts.begin(), texts.end());
  eleanor::TorchScriptEmbedderOptions options;
  options.model = dir + "/model.pt";
  options.vocab = dir + "/vocab.txt";
  options.batchSize = std::atoi(env("ELEANOR_BENCH_BATCH", "256").c_str());
  options.cudaDevice = device.rfind("cuda:", 0) == 0 ? std::atoi(device.c_str() + 5) : -1;
  options.dtype = dtype;
  options.dim = 0;  // the model's
  eleanor::TorchScriptEmbedder embedder(options);
  embedder.embed(views);  // warm-up: kernels, allocator, autotuning
  const int64_t tokens0 = embedder.tokens();
  int64_t calls = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(embedder.embed(views));
    ++calls;
  }
  const double tokensPerCall = double(embedder.tokens() - tokens0) / double(calls);
  state.counters["texts/s"] =
      benchmark::Counter(double(texts.size()) * calls, benchmark::Counter::kIsRate);
  state.counters["tokens/s"] =
      benchmark::Counter(tokensPerCall * calls, benchmark::Counter::kIsRate);
  state.SetLabel(fmt::format("{} {}, {} texts, {:.1f} tokens/text, batch {}", device, dtype,
                             texts.size(), tokensPerCall / double(texts.size()),
                             options.batchSize));
}

}  // namespace

int main(int argc, char** argv) {
  eleanor::ensureThreadingEnvironment(argv);  // the worker's threading (common/blas_core.h)
  eleanor::initLogging();                     // warnings to stderr: stdout may be the JSON report
  if (env("ELEANOR_BENCH_MODEL_DIR").empty()) {
    std::printf(
        "bench_embed: set ELEANOR_BENCH_MODEL_DIR to a folder written by "
        "scripts/export-model.py random DIR --texts 1000 (model.pt, vocab.txt, "
        "texts.jsonl)\n");
    return 0;
  }
  const bool gpu = env("ELEANOR_BENCH_DEVICE", "cpu") != "cpu";
  for (const std::string& dtype : gpu ? std::vector<std::string>{"float32", "float16", "bfloat16"}
                                      : std::vector<std::string>{"float32"}) {
    benchmark::RegisterBenchmark(("embed/" + dtype).c_str(),
                                 [dtype](benchmark::State& s) { embedAll(s, dtype); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(2.0);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
