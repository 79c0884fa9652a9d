// Test models made here, with no download: a BERT-shaped TorchScript encoder (word and
// position embeddings, layer norm, multi-head self-attention with the attention mask, GELU
// feed-forward, residuals), its vocab.txt, and critic heads. Seeded, so every test run and
// every rank writes the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eleanor::testing {

struct TinyBertShape {
  int64_t hidden = 32;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t intermediate = 64;
  int64_t maxPositions = 128;
  uint64_t seed = 1;
  bool sentenceOutput = false;  // forward returns the mean-pooled B × D instead of B × L × D
  int64_t nanForToken = -1;     // >= 0: a text holding this token id embeds as NaN (tests)
};

// vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK], printable ASCII characters, "##" + each letter
// and digit (so every ASCII word has a WordPiece segmentation), then `words` in order.
std::vector<std::string> tinyVocabulary(const std::vector<std::string>& words);
void writeVocabulary(const std::string& path, const std::vector<std::string>& vocabulary);

// Writes the encoder for a vocabulary of `vocabSize` tokens to `path` (TorchScript).
void writeTinyBert(const std::string& path, int64_t vocabSize, const TinyBertShape& shape);

// Writes a critic head: severity = 3 * sigmoid(embedding · w + b), shape B, or B × 1 with
// `column`; `dim` inputs.
void writeCriticHead(const std::string& path, int64_t dim, uint64_t seed, bool column = false);

// Writes a head that returns NaN for a case whose embedding's first value is above
// `threshold`, else `severity` (shape B): the bad-input tests' broken model critic.
void writeNanWhereHead(const std::string& path, double threshold, double severity);

}  // namespace eleanor::testing
