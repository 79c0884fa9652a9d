#include "worker/torch_info.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include <filesystem>
#include <fstream>
#include <regex>

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

  // Force the BLAS library in (Debian's LibTorch resolves it through libblas.so.3 at run time).
  const at::Tensor a = at::ones({64, 64});
  (void)at::mm(a, a).sum().item<float>();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string name = std::filesystem::path(path).filename().string();
    if (name.find("blas") == std::string::npos && name.find("mkl_core") == std::string::npos &&
        name.find("blis") == std::string::npos)
      continue;
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

void setTorchThreads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace eleanor
