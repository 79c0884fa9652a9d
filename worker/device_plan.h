// Where this rank computes and how: the device (gpu.device_preference, device_ids, one rank
// per GPU), the dtype (gpu.memory.dtype auto = bfloat16 on compute capability >= 8.0, else
// float16), and the search options that follow from gpu.yaml.
#pragma once

#include <string>

#include "common/device_info.h"
#include "common/device_select.h"
#include "common/process_identity.h"
#include "worker/job_config.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {

struct DevicePlan {
  DeviceChoice choice;
  int visibleGpus = 0;      // GPUs this rank can see (gpu.model_assignments indexes them)
  std::string dtype;        // bfloat16 | float16 | float32 (float32 on the CPU)
  std::string description;  // "cuda:0 NVIDIA H100 ..., bfloat16" or "cpu (reason)"
};

// Local to this rank. Throws UserError for a launch that breaks one-rank-per-GPU.
DevicePlan planDevice(const JobConfig& config, const ProcessIdentity& id,
                      const DeviceReport& devices, bool torchHasCuda);

SearchOptions searchOptions(const JobConfig& config, const DevicePlan& plan);

// Where a model component ("embedder", "<critic>_critic") runs: the GPU gpu.model_assignments
// names for it, else the rank's own device; on a CPU rank, the CPU. Throws UserError for an
// assignment past the GPUs this rank sees.
struct ModelPlacement {
  int cudaDevice = -1;            // < 0: the CPU
  std::string dtype = "float32";  // the plan's dtype on a GPU (gpu.memory.dtype)
};
ModelPlacement placeModel(const JobConfig& config, const DevicePlan& plan,
                          const std::string& component);

}  // namespace eleanor
