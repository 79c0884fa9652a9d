// Embedder: texts -> L2-normalised rows of a B × D matrix. The same text gives the same row
// on every rank, batch and machine (the results' determinism rests on it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.h"

namespace eleanor {

struct EmbedderStats {
  int64_t texts = 0;
  int64_t cacheHits = 0;
  int64_t cacheMisses = 0;
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int64_t dim() const = 0;
  // What made the vectors ("hashing dim=384 seed=0 bigrams"): stored with a precedent corpus
  // so a job can refuse a corpus embedded differently.
  virtual std::string signature() const = 0;
  // Row i is texts[i]'s embedding, unit length (a text with no features gives a zero row).
  virtual Matrix embed(std::span<const std::string_view> texts) = 0;
  virtual EmbedderStats stats() const { return {}; }
};

// A row with a NaN or an infinity (a model that overflowed on a text, say) cannot be searched
// or ranked: the job and the index builder send its case or precedent to errors.jsonl with
// nonFiniteEmbeddingReason(embedder.type) and go on with the others.
inline bool finiteEmbedding(std::span<const float> row) {
  return std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); });
}

// Drops each row of `embeddings` that is not finite together with items[i], after calling
// dropped(items[i]); the rest keep their order. Returns how many were dropped.
template <class Item, class Dropped>
int64_t dropNonFiniteRows(Matrix& embeddings, std::vector<Item>& items, Dropped&& dropped) {
  int64_t kept = 0;
  for (int64_t i = 0; i < embeddings.rows; ++i) {
    const auto row = embeddings.row(i);
    if (!finiteEmbedding(row)) {
      dropped(items[static_cast<size_t>(i)]);
      continue;
    }
    if (kept != i) {
      items[static_cast<size_t>(kept)] = std::move(items[static_cast<size_t>(i)]);
      std::copy(row.begin(), row.end(), embeddings.row(kept).begin());
    }
    ++kept;
  }
  const int64_t removed = embeddings.rows - kept;
  items.resize(static_cast<size_t>(kept));
  embeddings.rows = kept;
  embeddings.values.resize(static_cast<size_t>(kept * embeddings.cols));
  return removed;
}

inline std::string nonFiniteEmbeddingReason(const std::string& embedderType) {
  return "the embedder (" + embedderType +
         ") returned a non-finite embedding (NaN or infinity) for this text; check the model on "
         "it (with gpu.memory.dtype fp16, try bf16 or fp32)";
}

}  // namespace eleanor
