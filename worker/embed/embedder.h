// Embedder: texts -> L2-normalised rows of a B × D matrix. The same text gives the same row
// on every rank, batch and machine (the results' determinism rests on it).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

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

}  // namespace eleanor
