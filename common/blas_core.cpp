#include "common/blas_core.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

namespace eleanor {
namespace {

constexpr const char* kReexecMarker = "ELEANOR_OPENBLAS_FALLBACK_CORE";

// The core OpenBLAS runs with ("" when `library` is not, or does not load, OpenBLAS).
std::string openBlasCore(void* library) {
  using CoreName = char* (*)();
  const auto coreName = reinterpret_cast<CoreName>(dlsym(library, "openblas_get_corename"));
  if (!coreName) return "";
  const char* name = coreName();
  return name ? name : "";
}

// OpenBLAS cores without AVX2 kernels.
bool beforeAvx2(std::string core) {
  std::transform(core.begin(), core.end(), core.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::set<std::string> old{"prescott",     "core2",       "penryn",    "dunnington",
                                         "nehalem",      "sandybridge", "atom",      "katmai",
                                         "coppermine",   "northwood",   "banias",    "opteron",
                                         "opteron_sse3", "barcelona",   "bobcat",    "bulldozer",
                                         "piledriver",   "steamroller", "excavator", "unknown"};
  return old.count(core) > 0;
}

}  // namespace

// The OpenBLAS core to run instead of `core` (nullptr: keep it): SkylakeX with AVX-512, else
// Haswell with AVX2 and FMA, when `core` has no AVX2 kernels.
const char* fasterCore(const std::string& core) {
  if (core.empty() || !beforeAvx2(core)) return nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

void ensureFastBlasKernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  const std::string core = openBlasCore(RTLD_DEFAULT);
  const char* better = fasterCore(core);
  if (!better) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  setenv(kReexecMarker, core.c_str(), 1);
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the slow kernels (the note says which ones).
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kReexecMarker);
}

void chooseBlasKernelsBeforeLoading() {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  // The BLAS LibTorch links (Debian: libblas.so.3, OpenBLAS through the alternatives). Left
  // loaded: the caller is about to exec.
  void* blas = dlopen("libblas.so.3", RTLD_LAZY | RTLD_LOCAL);
  if (!blas) return;
  const std::string core = openBlasCore(blas);
  const char* better = fasterCore(core);
  if (!better) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  setenv(kReexecMarker, core.c_str(), 1);
}

std::string blasKernelsNote() {
  const std::string core = openBlasCore(RTLD_DEFAULT);
  if (core.empty()) return "";
  const char* fallback = std::getenv(kReexecMarker);
  if (fallback && *fallback)
    return fmt::format(
        "OpenBLAS kernels: {} (OpenBLAS chose {} for this CPU model; set "
        "OPENBLAS_CORETYPE to choose)",
        core, fallback);
  return fmt::format("OpenBLAS kernels: {}{}", core,
                     beforeAvx2(core) ? " (no AVX2 kernels: matrix products run slowly)" : "");
}

}  // namespace eleanor
