// The embedder a job config asks for, wrapped in the embedding cache.
#pragma once

#include <memory>

#include "worker/device_plan.h"
#include "worker/embed/embedder.h"
#include "worker/job_config.h"

namespace eleanor {

// A model embedder runs where placeModel(config, plan, "embedder") says.
std::unique_ptr<Embedder> makeEmbedder(const JobConfig& config, const DevicePlan& plan);

}  // namespace eleanor
