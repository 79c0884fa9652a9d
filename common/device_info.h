// What accelerators this build can see. One implementation per build: with CUDA it asks the
// CUDA runtime (and NCCL when built), without it says "not built".
#pragma once

#include <string>
#include <vector>

namespace eleanor {

struct DeviceReport {
  bool cudaBuilt = false;
  bool ncclBuilt = false;
  std::string cudaRuntime;  // "13.0" or the reason it is unavailable
  std::string nccl;         // "2.28.9" or "not built"
  std::vector<std::string>
      devices;          // "0: NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90, PCI 0000:17:00.0"
  std::string problem;  // why no device is usable, "" when fine
};

DeviceReport queryDevices();

}  // namespace eleanor
