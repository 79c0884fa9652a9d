#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <array>

#include "common/device_info.h"

#ifdef ELEANOR_HAVE_NCCL
#include <nccl.h>
#endif

namespace eleanor {

DeviceReport queryDevices() {
  DeviceReport report;
  report.cudaBuilt = true;
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  int driver = 0;
  cudaDriverGetVersion(&driver);
  report.cudaRuntime = fmt::format(
      "runtime {}.{}, driver {}", runtime / 1000, runtime % 1000 / 10,
      driver ? fmt::format("{}.{}", driver / 1000, driver % 1000 / 10) : std::string("none"));
#ifdef ELEANOR_HAVE_NCCL
  report.ncclBuilt = true;
  int nccl = 0;
  ncclGetVersion(&nccl);
  report.nccl = fmt::format("{}.{}.{}", nccl / 10000, nccl / 100 % 100, nccl % 100);
#else
  report.nccl = "not built";
#endif
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    report.problem = cudaGetErrorString(status);
    return report;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    GpuInfo gpu;
    gpu.index = i;
    gpu.name = prop.name;
    gpu.totalBytes = static_cast<int64_t>(prop.totalGlobalMem);
    gpu.major = prop.major;
    gpu.minor = prop.minor;
    std::array<char, 32> bus{};
    if (cudaDeviceGetPCIBusId(bus.data(), static_cast<int>(bus.size()), i) == cudaSuccess)
      gpu.pciBusId = bus.data();
    report.gpus.push_back(gpu);
  }
  if (count == 0) report.problem = "CUDA found no GPU";
  return report;
}

DeviceMemory queryDeviceMemory(int device) {
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) return {};
  cudaSetDevice(device);
  size_t free = 0, total = 0;
  const bool ok = cudaMemGetInfo(&free, &total) == cudaSuccess;
  cudaSetDevice(previous);
  if (!ok) return {};
  return {static_cast<int64_t>(total - free), static_cast<int64_t>(total)};
}

}  // namespace eleanor
