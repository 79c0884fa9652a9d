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
  std::string dtype;        // bfloat16 | float16 | float32 (float32 on the CPU)
  std::string description;  // "cuda:0 NVIDIA H100 ..., bfloat16" or "cpu (reason)"
};

// Local to this rank. Throws UserError for a launch that breaks one-rank-per-GPU.
DevicePlan planDevice(const JobConfig& config, const ProcessIdentity& id,
                      const DeviceReport& devices, bool torchHasCuda);

SearchOptions searchOptions(const JobConfig& config, const DevicePlan& plan);

}  // namespace eleanor
