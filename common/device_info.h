// What accelerators this build can see. One implementation per build: with CUDA it asks the
// CUDA runtime (and NCCL when built), without it says "not built".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eleanor {

struct GpuInfo {
  int index = 0;  // after CUDA_VISIBLE_DEVICES
  std::string name;
  int64_t totalBytes = 0;
  int major = 0;  // compute capability
  int minor = 0;
  std::string pciBusId;          // "0000:17:00.0"
  std::string describe() const;  // "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90, PCI 0000:17:00.0"
};

struct DeviceReport {
  bool cudaBuilt = false;
  bool ncclBuilt = false;
  std::string cudaRuntime;  // "runtime 13.0, driver 13.0" or why it is unavailable
  std::string nccl;         // "2.28.9" or "not built"
  std::vector<GpuInfo> gpus;
  std::string problem;  // why no GPU is usable, "" when fine
};

DeviceReport queryDevices();

struct DeviceMemory {
  int64_t usedBytes = 0;  // by every process on the device (cudaMemGetInfo)
  int64_t totalBytes = 0;
};
// Zero when CUDA is not built or the device cannot be asked.
DeviceMemory queryDeviceMemory(int device);

}  // namespace eleanor
