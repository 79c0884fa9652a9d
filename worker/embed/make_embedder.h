// The embedder a job config asks for, wrapped in the embedding cache.
#pragma once

#include <memory>

#include "worker/embed/embedder.h"
#include "worker/job_config.h"

namespace eleanor {

std::unique_ptr<Embedder> makeEmbedder(const JobConfig::Embedder& config);

}  // namespace eleanor
