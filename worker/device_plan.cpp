#include "worker/device_plan.h"

#include <fmt/format.h>

#include "common/error.h"

namespace eleanor {

DevicePlan planDevice(const JobConfig& config, const ProcessIdentity& id,
                      const DeviceReport& devices, bool torchHasCuda) {
  const bool usable = !devices.gpus.empty() && torchHasCuda;
  std::string problem = devices.problem;
  if (!devices.gpus.empty() && !torchHasCuda) problem = "this LibTorch was built without CUDA";
  DevicePlan plan;
  plan.choice = chooseDevice(config.gpu, id.localRank, id.localSize,
                             static_cast<int>(devices.gpus.size()), usable, problem);
  plan.visibleGpus = usable ? static_cast<int>(devices.gpus.size()) : 0;
  if (!plan.choice.cuda) {
    plan.dtype = "float32";
    plan.description = fmt::format("cpu ({})", plan.choice.reason);
    return plan;
  }
  const GpuInfo& gpu = devices.gpus[static_cast<size_t>(plan.choice.device)];
  const auto& memory = config.gpu.memory;
  if (!memory.mixedPrecision) {
    plan.dtype = "float32";
  } else if (memory.dtype == "auto") {
    plan.dtype = gpu.major >= 8 ? "bfloat16" : "float16";
  } else {
    plan.dtype = memory.dtype;
  }
  plan.description = fmt::format("cuda:{} {}, {}{}", plan.choice.device, gpu.describe(),
                                 memory.quantization.enabled ? "int8 shard" : plan.dtype,
                                 memory.offloadToCpu ? ", offloaded to host" : "");
  return plan;
}

SearchOptions searchOptions(const JobConfig& config, const DevicePlan& plan) {
  SearchOptions options;
  options.memoryBudgetBytes = config.search.memoryBudgetMb << 20;
  options.threads = config.search.threads;
  options.kernel = config.search.kernel;
  options.cpuDtype = config.search.cpuDtype;
  if (!plan.choice.cuda) return options;
  const GpuConfig& gpu = config.gpu;
  options.cudaDevice = plan.choice.device;
  options.dtype = plan.dtype;
  options.int8 = gpu.memory.quantization.enabled;
  options.offloadToCpu = gpu.memory.offloadToCpu;
  options.numStreams = gpu.async.numStreams;
  options.prefetch = gpu.async.prefetch;
  options.allowTf32 = gpu.cuda.allowTf32;
  options.memoryCapBytes = gpu.memory.maxMemoryPerGpuBytes;
  options.minQueryBlock = gpu.batch.minBatchSize;
  return options;
}

ModelPlacement placeModel(const JobConfig& config, const DevicePlan& plan,
                          const std::string& component) {
  ModelPlacement placement;
  if (!plan.choice.cuda) return placement;
  placement.cudaDevice = plan.choice.device;
  placement.dtype = plan.dtype;
  const auto it = config.gpu.modelAssignments.find(component);
  if (it == config.gpu.modelAssignments.end()) return placement;
  if (it->second >= plan.visibleGpus)
    throw UserError(
        fmt::format("gpu.model_assignments.{} is GPU {} but this rank sees {} GPU{} "
                    "(0..{}): name a visible GPU or remove the assignment",
                    component, it->second, plan.visibleGpus, plan.visibleGpus == 1 ? "" : "s",
                    plan.visibleGpus - 1));
  placement.cudaDevice = it->second;
  return placement;
}

}  // namespace eleanor
