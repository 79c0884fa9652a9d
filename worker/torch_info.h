// LibTorch facts for `doctor` and the report, kept in one small file so nothing else needs
// LibTorch's headers to ask.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace eleanor {

struct TorchInfo {
  std::string version;           // "1.13.0"
  std::string cpuCapability;     // "AVX2"
  int threads = 0;               // intra-op threads
  std::string blasLibrary;       // the BLAS shared library actually loaded (from /proc/self/maps)
  bool blasIsOptimized = false;  // OpenBLAS, MKL or BLIS rather than reference BLAS
};

// Runs a tiny matrix product so the BLAS library is loaded, then reports.
TorchInfo queryTorch();

// True when this LibTorch can run on CUDA devices (and finds one).
bool torchHasCuda();

// gpu.cuda.benchmark: cuDNN's autotuner for the model critics and embedders that use it.
void setCudnnBenchmark(bool on);

// LibTorch's CUDA caching allocator on one device: what tensors hold (allocated), what it has
// taken from the driver (reserved), and the peaks of both since the start. `available` is false
// with a LibTorch built without CUDA.
struct TorchCudaMemory {
  bool available = false;
  double allocatedMb = 0, reservedMb = 0, peakAllocatedMb = 0, peakReservedMb = 0;
};
TorchCudaMemory torchCudaMemory(int device);

// Takes all but about `leaveBytes` of what GPU `device` has free, through LibTorch's allocator
// (in 16 MiB steps less where that much will not come in one piece), and holds it while the
// handle lives; the bytes taken go to `taken`. It first runs a small product in each scoring
// dtype, so that cuBLAS has made its handle and workspace, and measures what is free after
// them. Released, the bytes go back to the device (LibTorch's cache emptied). For memory
// drills (ELEANOR_FAULT_GPU_FREE_MB, pipeline.cpp, and the GPU tests).
std::shared_ptr<void> holdCudaMemory(int device, int64_t leaveBytes, int64_t& taken);

// gpu.memory.max_memory_per_gpu on LibTorch's CUDA caching allocator: on GPU `device`
// (totalBytes of memory), its allocations beyond `bytes` fail as out of memory (the search
// backs off from those, gpu.batch). Returns the fraction of the device set (at most 1), or 0
// with the reason in `why` where it could not (no CUDA allocator in this LibTorch, ...).
double capCudaAllocator(int device, int64_t bytes, int64_t totalBytes, std::string& why);

// Sets LibTorch's intra-op thread count (> 0).
void setTorchThreads(int threads);

}  // namespace eleanor
