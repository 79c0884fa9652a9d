// eleanor-test-model: writes the tests' tiny BERT-shaped TorchScript model, its vocab.txt and
// critic heads into a folder, for the end-to-end tests (no download, seeded: same bytes
// every time).
//   eleanor-test-model --out DIR [--words-from FILE] [--hidden 32] [--layers 2] [--heads]
//                      [--nan-for TOKEN]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/support/tiny_bert.h"

namespace {

// The `limit` most frequent lower-cased ASCII words of a file (ties alphabetical).
std::vector<std::string> frequentWords(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::map<std::string, int64_t> counts;
  std::string word;
  char c;
  while (in.get(c)) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      if (word.size() > 1) ++counts[word];
      word.clear();
    }
  }
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> words;
  for (size_t i = 0; i < sorted.size() && i < limit; ++i) words.push_back(sorted[i].first);
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes a tiny BERT-shaped TorchScript model, vocab.txt and critic heads"};
  std::string out, wordsFrom;
  eleanor::testing::TinyBertShape shape;
  bool heads = false;
  std::string nanFor;
  app.add_option("--out", out, "folder to write model.pt, vocab.txt (and heads/*.pt)")->required();
  app.add_option("--words-from", wordsFrom,
                 "add this file's 400 most frequent words to the vocabulary");
  app.add_option("--hidden", shape.hidden, "hidden size (= embedding dimension)");
  app.add_option("--layers", shape.layers, "encoder layers");
  app.add_flag("--heads", heads,
               "also write heads/truth.pt, heads/fairness.pt and heads/nan.pt (NaN where the "
               "embedding's first value is above 0, else 1.5)");
  app.add_option("--nan-for", nanFor,
                 "a vocabulary token (e.g. '^'): texts holding it embed as NaN (bad-input tests)");
  CLI11_PARSE(app, argc, argv);
  try {
    std::filesystem::create_directories(out);
    const auto vocab = eleanor::testing::tinyVocabulary(
        wordsFrom.empty() ? std::vector<std::string>{} : frequentWords(wordsFrom, 400));
    eleanor::testing::writeVocabulary(out + "/vocab.txt", vocab);
    if (!nanFor.empty()) {
      const auto at = std::find(vocab.begin(), vocab.end(), nanFor);
      if (at == vocab.end()) throw std::runtime_error("--nan-for: '" + nanFor + "' is not a token");
      shape.nanForToken = at - vocab.begin();
    }
    eleanor::testing::writeTinyBert(out + "/model.pt", static_cast<int64_t>(vocab.size()), shape);
    if (heads) {
      std::filesystem::create_directories(out + "/heads");
      eleanor::testing::writeCriticHead(out + "/heads/truth.pt", shape.hidden, 11);
      eleanor::testing::writeCriticHead(out + "/heads/fairness.pt", shape.hidden, 12, true);
      // A broken head for the bad-input tests: NaN where the embedding's first value is > 0.
      eleanor::testing::writeNanWhereHead(out + "/heads/nan.pt", 0.0, 1.5);
    }
    std::printf("wrote %s/model.pt (hidden %lld, %lld layers) and vocab.txt (%zu tokens)\n",
                out.c_str(), static_cast<long long>(shape.hidden),
                static_cast<long long>(shape.layers), vocab.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eleanor-test-model: %s\n", e.what());
    return 1;
  }
  return 0;
}
