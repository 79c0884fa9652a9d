// HashingEmbedder: the built-in embedder, which needs no model weights.
//   tokens:   runs of ASCII letters/digits and non-ASCII (UTF-8) bytes; ASCII lower-cased
//   features: every unigram "w" and every bigram of adjacent tokens "w1\x1fw2" (the unit
//             separator byte cannot occur in a token, so "a b" never collides with "ab")
//   bucket:   h = XXH3-64(feature, seed); column h mod D, sign +1 or -1 from bit 63 of h
//   value:    sign * (1 + ln tf) for a feature seen tf times, summed per column in double
//             in ascending hash order (a fixed order: bit-identical everywhere)
//   then L2-normalised and rounded to float.
#pragma once

#include <cstdint>

#include "worker/embed/embedder.h"

namespace eleanor {

class HashingEmbedder : public Embedder {
 public:
  HashingEmbedder(int64_t dim, uint64_t seed, bool bigrams);
  int64_t dim() const override { return dim_; }
  std::string signature() const override;
  Matrix embed(std::span<const std::string_view> texts) override;
  EmbedderStats stats() const override { return {texts_, 0, 0}; }

  // One text into `row` (size dim()). Thread-safe.
  void embedOne(std::string_view text, std::span<float> row) const;

 private:
  int64_t dim_;
  uint64_t seed_;
  bool bigrams_;
  int64_t texts_ = 0;
};

}  // namespace eleanor
