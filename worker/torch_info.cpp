#include "worker/torch_info.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
// Only a CUDA LibTorch ships the CUDA allocator's headers complete (Debian's CPU LibTorch has
// some of c10/cuda but not its generated cuda_cmake_macros.h).
#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && \
    __has_include(<c10/cuda/impl/cuda_cmake_macros.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define ELEANOR_TORCH_CUDA_ALLOCATOR 1
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "common/device_info.h"

namespace eleanor {

TorchInfo queryTorch() {
  TorchInfo info;
  const std::string config = at::show_config();
  std::smatch match;
  if (std::regex_search(config, match, std::regex("TORCH_VERSION=([^,\\s]+)")))
    info.version = match[1];
  if (std::regex_search(config, match, std::regex("CPU capability usage: (\\S+)")))
    info.cpuCapability = match[1];
  info.threads = at::get_num_threads();

  // PyTorch's wheels link MKL into LibTorch itself; Debian's resolves libblas.so.3 at run time
  // (OpenBLAS when libopenblas0-pthread is installed, the slow reference BLAS otherwise).
  std::string blasInfo;
  if (std::regex_search(config, match, std::regex("BLAS_INFO=([^,\\s]+)"))) blasInfo = match[1];
  if (blasInfo == "mkl" || blasInfo == "open" || blasInfo == "blis" || blasInfo == "accelerate") {
    info.blasLibrary = blasInfo + " (linked into LibTorch)";
    info.blasIsOptimized = true;
    return info;
  }
  const at::Tensor a = at::ones({64, 64});
  (void)at::mm(a, a).sum().item<float>();  // loads the BLAS library
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string name = std::filesystem::path(path).filename().string();
    const bool cpuBlas = name.rfind("libblas", 0) == 0 || name.rfind("libopenblas", 0) == 0 ||
                         name.rfind("libmkl", 0) == 0 || name.rfind("libblis", 0) == 0;
    if (!cpuBlas) continue;
    std::error_code ignored;
    const std::string real = std::filesystem::canonical(path, ignored).string();
    info.blasLibrary = real.empty() ? path : real;
    info.blasIsOptimized = info.blasLibrary.find("openblas") != std::string::npos ||
                           info.blasLibrary.find("mkl") != std::string::npos ||
                           info.blasLibrary.find("blis") != std::string::npos;
    if (info.blasIsOptimized) break;
  }
  return info;
}

bool torchHasCuda() {
  return at::hasCUDA();
}

TorchCudaMemory torchCudaMemory(int device) {
  TorchCudaMemory memory;
#ifdef ELEANOR_TORCH_CUDA_ALLOCATOR
  if (device < 0 || !at::hasCUDA()) return memory;
  const auto stats =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  constexpr size_t kAll = 0;  // StatType::AGGREGATE: both pools
  constexpr double kMb = 1 << 20;
  memory.available = true;
  memory.allocatedMb = stats.allocated_bytes[kAll].current / kMb;
  memory.reservedMb = stats.reserved_bytes[kAll].current / kMb;
  memory.peakAllocatedMb = stats.allocated_bytes[kAll].peak / kMb;
  memory.peakReservedMb = stats.reserved_bytes[kAll].peak / kMb;
#else
  (void)device;
#endif
  return memory;
}

std::shared_ptr<void> holdCudaMemory(int device, int64_t leaveBytes, int64_t& taken) {
  const auto options =
      at::TensorOptions().dtype(at::kByte).device(at::kCUDA, static_cast<c10::DeviceIndex>(device));
  // A product in each dtype a search scores in first: cuBLAS's handle and workspace exist
  // before the squeeze (a job makes them on its first search, long before memory runs short),
  // and what is free is measured after them.
  for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    const at::Tensor a = at::ones({64, 64}, options.dtype(dtype));
    (void)at::mm(a, a.t()).sum().item<float>();
  }
  const DeviceMemory memory = queryDeviceMemory(device);
  // Released, the bytes go back to the device, not to LibTorch's cache: there they would
  // still starve what allocates outside LibTorch (NCCL, streams, kernel modules).
  const auto release = [](at::Tensor* held) {
    delete held;
#ifdef ELEANOR_TORCH_CUDA_ALLOCATOR
    c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  };
  for (taken = memory.totalBytes - memory.usedBytes - leaveBytes; taken > 0;
       taken -= int64_t{16} << 20) {
    try {
      return std::shared_ptr<at::Tensor>(new at::Tensor(at::empty({taken}, options)), release);
    } catch (const std::exception&) {
      // not in one piece: a little less
    }
  }
  taken = 0;
  return nullptr;
}

double capCudaAllocator(int device, int64_t bytes, int64_t totalBytes, std::string& why) {
#ifdef ELEANOR_TORCH_CUDA_ALLOCATOR
  if (device < 0 || bytes <= 0 || totalBytes <= 0 || !at::hasCUDA()) {
    why = "the GPU's memory could not be read";
    return 0;
  }
  const double fraction = std::min(1.0, static_cast<double>(bytes) / totalBytes);
  try {
    // A first tensor on the device initialises LibTorch's CUDA state and allocator, which
    // setMemoryFraction needs (torch.cuda.set_per_process_memory_fraction does the same).
    (void)at::empty({1},
                    at::TensorOptions().device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
    c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction,
                                                       static_cast<c10::DeviceIndex>(device));
  } catch (const std::exception& e) {
    why = e.what();
    return 0;
  }
  return fraction;
#else
  (void)device, (void)bytes, (void)totalBytes;
  why = "this LibTorch has no CUDA allocator";
  return 0;
#endif
}

void setCudnnBenchmark(bool on) {
  at::globalContext().setBenchmarkCuDNN(on);
}

void setTorchThreads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace eleanor
