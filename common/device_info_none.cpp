#include "common/device_info.h"

namespace eleanor {

DeviceReport queryDevices() {
  DeviceReport report;
  report.cudaRuntime = "not built (configure with -DELEANOR_WITH_CUDA=ON on a machine with nvcc)";
  report.nccl = "not built";
  report.problem = "this build has no CUDA support";
  return report;
}

DeviceMemory queryDeviceMemory(int) {
  return {};
}

}  // namespace eleanor
