#include "worker/embed/embedding_cache.h"

#include <algorithm>
#include <iterator>

namespace eleanor {

CachingEmbedder::CachingEmbedder(std::unique_ptr<Embedder> inner, int64_t maxEntries)
    : inner_(std::move(inner)), maxEntries_(maxEntries) {}

Matrix CachingEmbedder::embed(std::span<const std::string_view> texts) {
  if (maxEntries_ <= 0) {
    misses_ += static_cast<int64_t>(texts.size());
    return inner_->embed(texts);
  }
  Matrix out(static_cast<int64_t>(texts.size()), dim());
  std::vector<Hash128> keys(texts.size());
  std::vector<size_t> missing;
  std::vector<std::string_view> missingTexts;
  for (size_t i = 0; i < texts.size(); ++i) {
    keys[i] = hash128(texts[i]);
    const auto found = index_.find(keys[i]);
    if (found != index_.end()) {
      lru_.splice(lru_.begin(), lru_, found->second);
      std::copy(found->second->row.begin(), found->second->row.end(), out.row(i).begin());
      ++hits_;
    } else {
      missing.push_back(i);
      missingTexts.push_back(texts[i]);
    }
  }
  if (missing.empty()) return out;
  misses_ += static_cast<int64_t>(missing.size());
  const Matrix computed = inner_->embed(missingTexts);
  for (size_t j = 0; j < missing.size(); ++j) {
    const auto row = computed.row(static_cast<int64_t>(j));
    std::copy(row.begin(), row.end(), out.row(missing[j]).begin());
    const Hash128& key = keys[missing[j]];
    if (index_.count(key)) continue;  // the same text twice in one batch
    if (static_cast<int64_t>(index_.size()) < maxEntries_) {
      lru_.push_front({key, std::vector<float>(row.begin(), row.end())});
    } else {
      // Full: the least recently used entry makes room, its node and row reused for this one
      // (a job of unique texts would otherwise allocate and free a row a case).
      const auto oldest = std::prev(lru_.end());
      index_.erase(oldest->key);
      oldest->key = key;
      oldest->row.assign(row.begin(), row.end());
      lru_.splice(lru_.begin(), lru_, oldest);
    }
    index_[key] = lru_.begin();
  }
  return out;
}

EmbedderStats CachingEmbedder::stats() const {
  EmbedderStats s = inner_->stats();
  s.texts = hits_ + misses_;
  s.cacheHits = hits_;
  s.cacheMisses = misses_;
  return s;
}

}  // namespace eleanor
