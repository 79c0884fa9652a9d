// CachingEmbedder: an LRU cache of embeddings keyed by a 128-bit hash of the text, in front of
// any Embedder. Worth it for model embedders and repeated texts; hits and misses are reported.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/text_hash.h"
#include "worker/embed/embedder.h"

namespace eleanor {

class CachingEmbedder : public Embedder {
 public:
  // maxEntries == 0 disables the cache (every text goes to `inner`).
  CachingEmbedder(std::unique_ptr<Embedder> inner, int64_t maxEntries);
  int64_t dim() const override { return inner_->dim(); }
  std::string signature() const override { return inner_->signature(); }
  Matrix embed(std::span<const std::string_view> texts) override;
  EmbedderStats stats() const override;
  int64_t size() const { return static_cast<int64_t>(index_.size()); }

 private:
  struct KeyHash {
    size_t operator()(const Hash128& h) const { return h.low ^ (h.high * 0x9e3779b97f4a7c15ULL); }
  };
  struct Entry {
    Hash128 key;
    std::vector<float> row;
  };
  std::unique_ptr<Embedder> inner_;
  int64_t maxEntries_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<Hash128, std::list<Entry>::iterator, KeyHash> index_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace eleanor
