#include "worker/embed/make_embedder.h"

#include "worker/embed/embedding_cache.h"
#include "worker/embed/hashing_embedder.h"
#include "worker/embed/torchscript_embedder.h"

namespace eleanor {

std::unique_ptr<Embedder> makeEmbedder(const JobConfig& config, const DevicePlan& plan) {
  const JobConfig::Embedder& e = config.embedder;
  std::unique_ptr<Embedder> inner;
  if (e.type == "torchscript") {
    const ModelPlacement where = placeModel(config, plan, "embedder");
    inner = std::make_unique<TorchScriptEmbedder>(
        TorchScriptEmbedderOptions{.model = e.model,
                                   .vocab = e.vocab,
                                   .output = e.output,
                                   .pooling = e.pooling,
                                   .maxSeqLen = e.maxSeqLen,
                                   .lowerCase = e.lowerCase,
                                   .batchSize = e.batchSize,
                                   .dim = e.dim,
                                   .cudaDevice = where.cudaDevice,
                                   .dtype = where.dtype});
  } else {
    // The config loader has refused every other type.
    inner = std::make_unique<HashingEmbedder>(e.dim, static_cast<uint64_t>(e.seed), e.bigrams);
  }
  return std::make_unique<CachingEmbedder>(std::move(inner), e.maxCachedEmbeddings);
}

}  // namespace eleanor
