#include "worker/embed/make_embedder.h"

#include "worker/embed/embedding_cache.h"
#include "worker/embed/hashing_embedder.h"

namespace eleanor {

std::unique_ptr<Embedder> makeEmbedder(const JobConfig::Embedder& config) {
  // The config loader has already refused any type but "hashing".
  auto inner = std::make_unique<HashingEmbedder>(config.dim, static_cast<uint64_t>(config.seed),
                                                 config.bigrams);
  return std::make_unique<CachingEmbedder>(std::move(inner), config.maxCachedEmbeddings);
}

}  // namespace eleanor
