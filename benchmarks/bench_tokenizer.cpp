// WordPiece tokenization on one core: encodeInto() over the sample texts (the `text` and `output`
// of data/sample/cases.jsonl, cycled to 10,000), once as they are (ASCII: the byte fast path)
// and once with accented and CJK words added to each (the Unicode path). No BERT vocabulary
// ships with the repository, so the vocabulary is built from the texts themselves: frequent
// words whole, the rest as 3-character prefixes, "##" suffixes and single characters, which
// gives the WordPiece loop a realistic mix of whole words, pieces and [UNK].
//   bench_tokenizer [--benchmark_filter=...]; run from the repository root, or set
//   ELEANOR_BENCH_CASES to a cases.jsonl; ELEANOR_BENCH_TEXTS sets the count (10000).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "worker/embed/wordpiece_tokenizer.h"

namespace {

int64_t envOr(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoll(value) : fallback;
}

std::vector<std::string> sampleTexts() {
  const char* env = std::getenv("ELEANOR_BENCH_CASES");
  const std::string path = env && *env ? env : "data/sample/cases.jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("bench_tokenizer: cannot read " + path);
  std::vector<std::string> base;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto item = nlohmann::json::parse(line);
    for (const char* field : {"text", "output"}) {
      if (item.contains(field) && item[field].is_string()) base.push_back(item[field]);
    }
  }
  if (base.empty()) throw std::runtime_error("bench_tokenizer: no texts in " + path);
  std::vector<std::string> texts;
  const auto count = static_cast<size_t>(envOr("ELEANOR_BENCH_TEXTS", 10000));
  for (size_t i = 0; i < count; ++i) texts.push_back(base[i % base.size()]);
  return texts;
}

std::vector<std::string> withUnicode(const std::vector<std::string>& texts) {
  const char* extras[] = {"Café crème — ", "Über naïve résumé: ", "我爱北京 ", "Ελληνικά ΟΔΟΣ "};
  std::vector<std::string> out;
  for (size_t i = 0; i < texts.size(); ++i) out.push_back(extras[i % 4] + texts[i]);
  return out;
}

eleanor::WordPieceTokenizer makeTokenizer(const std::vector<std::string>& texts) {
  eleanor::WordPieceOptions options;
  options.maxSeqLen = 512;  // the sample texts fit: every token is produced and counted
  const auto basic = eleanor::WordPieceTokenizer::fromTokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]"},
                                                             options, "bootstrap");
  std::map<std::string, int> counts;
  for (const auto& text : texts) {
    for (const auto& word : basic.basicTokens(text)) ++counts[word];
  }
  std::set<std::string> vocab;
  for (const auto& [word, count] : counts) {
    if (count >= 30) {
      vocab.insert(word);
    } else if (word.size() >= 6 && std::all_of(word.begin(), word.end(), [](char c) {
                 return static_cast<unsigned char>(c) < 0x80;
               })) {
      vocab.insert(word.substr(0, 3));
      vocab.insert("##" + word.substr(word.size() - 3));
    }
    // Single ASCII characters, as BERT's vocabulary has them; other characters become [UNK].
    for (const char c : word) {
      if (static_cast<unsigned char>(c) < 0x80) {
        vocab.insert(std::string(1, c));
        vocab.insert("##" + std::string(1, c));
      }
    }
  }
  std::vector<std::string> tokens{"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
  tokens.insert(tokens.end(), vocab.begin(), vocab.end());
  return eleanor::WordPieceTokenizer::fromTokens(tokens, options, "synthetic");
}

void run(benchmark::State& state, const std::vector<std::string>& texts) {
  const auto tokenizer = makeTokenizer(texts);
  std::vector<int32_t> ids;
  int64_t tokens = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    for (const auto& text : texts) {
      tokenizer.encodeInto(text, ids);
      tokens += static_cast<int64_t>(ids.size());
      bytes += static_cast<int64_t>(text.size());
      benchmark::DoNotOptimize(ids.data());
    }
  }
  const double passes = static_cast<double>(state.iterations());
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["texts/s"] =
      benchmark::Counter(passes * static_cast<double>(texts.size()), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(bytes);
  state.SetLabel(
      fmt::format("{} texts, vocab {}, {:.1f} tokens/text", texts.size(), tokenizer.vocabSize(),
                  static_cast<double>(tokens) / passes / static_cast<double>(texts.size())));
}

void asciiTexts(benchmark::State& state) {
  static const auto texts = sampleTexts();
  run(state, texts);
}

void unicodeTexts(benchmark::State& state) {
  static const auto texts = withUnicode(sampleTexts());
  run(state, texts);
}

}  // namespace

BENCHMARK(asciiTexts)->Unit(benchmark::kMillisecond);
BENCHMARK(unicodeTexts)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
