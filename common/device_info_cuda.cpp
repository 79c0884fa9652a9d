#include <cuda_runtime_api.h>
#include <fmt/format.h>

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
    report.problem = fmt::format("no usable GPU: {}", cudaGetErrorString(status));
    return report;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    report.devices.push_back(fmt::format("{}: {}, {:.1f} GiB, sm_{}{}, PCI {:04x}:{:02x}:{:02x}.0",
                                         i, prop.name, prop.totalGlobalMem / double(1ULL << 30),
                                         prop.major, prop.minor, prop.pciDomainID, prop.pciBusID,
                                         prop.pciDeviceID));
  }
  if (count == 0) report.problem = "CUDA found no GPU";
  return report;
}

}  // namespace eleanor
