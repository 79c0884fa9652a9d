#include "common/blas_core.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <vector>

namespace eleanor {
namespace {

constexpr const char* kReexecMarker = "ELEANOR_OPENBLAS_FALLBACK_CORE";
constexpr const char* kWaitMarker = "ELEANOR_SET_OMP_WAIT_POLICY";
constexpr const char* kTimeoutMarker = "ELEANOR_SET_OPENBLAS_THREAD_TIMEOUT";
constexpr const char* kTunablesMarker = "ELEANOR_SET_GLIBC_TUNABLES";
constexpr const char* kHugePages = "glibc.malloc.hugetlb=1";
// OpenBLAS's idle threads spin 2^n cycles before they sleep; 4 is its shortest.
constexpr const char* kThreadTimeout = "4";

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

// A variable this file sets unless the user did, and the marker that says it did.
struct Setting {
  const char* name;
  const char* marker;
};
constexpr Setting kCoreSetting{"OPENBLAS_CORETYPE", kReexecMarker};
constexpr Setting kWaitSetting{"OMP_WAIT_POLICY", kWaitMarker};
constexpr Setting kTimeoutSetting{"OPENBLAS_THREAD_TIMEOUT", kTimeoutMarker};
constexpr Setting kTunablesSetting{"GLIBC_TUNABLES", kTunablesMarker};

// Sets `setting` to `value` (its marker to `markerValue`) unless the user set it; appends it
// to `set` when it did.
void setUnlessSet(const Setting& setting, const char* value, const char* markerValue,
                  std::vector<Setting>& set) {
  if (std::getenv(setting.name)) return;
  setenv(setting.name, value, 1);
  setenv(setting.marker, markerValue, 1);
  set.push_back(setting);
}

// Sets what the user left unset: OPENBLAS_CORETYPE where OpenBLAS fell back from `core` (its
// choice; "" when there is no OpenBLAS), OMP_WAIT_POLICY=passive, OPENBLAS_THREAD_TIMEOUT and
// malloc's huge pages. All are read once, as the libraries load. Returns what it set.
std::vector<Setting> chooseThreading(const std::string& core) {
  std::vector<Setting> set;
  if (const char* better = fasterCore(core)) setUnlessSet(kCoreSetting, better, core.c_str(), set);
  setUnlessSet(kWaitSetting, "passive", "1", set);
  setUnlessSet(kTimeoutSetting, kThreadTimeout, "1", set);
  setUnlessSet(kTunablesSetting, kHugePages, "1", set);
  return set;
}

// OpenBLAS's thread count calls in this process, when it runs its own pthreads (nullptr
// without OpenBLAS, and for its OpenMP build, where openblas_set_num_threads would set the
// caller's OpenMP thread count, and calls inside a parallel region run inline anyway).
struct OpenBlasThreads {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
};

const OpenBlasThreads& openBlasThreads() {
  static const OpenBlasThreads api = [] {
    using Parallel = int (*)();
    const auto parallel = reinterpret_cast<Parallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
    constexpr int kPthreads = 1;  // openblas_get_parallel: 0 sequential, 1 pthreads, 2 OpenMP
    if (!parallel || parallel() != kPthreads) return OpenBlasThreads{};
    return OpenBlasThreads{
        reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")),
        reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))};
  }();
  return api;
}

}  // namespace

BlasOnCallingThread::BlasOnCallingThread() {
  const OpenBlasThreads& api = openBlasThreads();
  if (!api.set || !api.get) return;
  const int threads = api.get();
  if (threads <= 1) return;
  previous_ = threads;
  api.set(1);
}

BlasOnCallingThread::~BlasOnCallingThread() {
  if (previous_ > 1) openBlasThreads().set(previous_);
}

void ensureThreadingEnvironment(char** argv) {
  const std::vector<Setting> set = chooseThreading(openBlasCore(RTLD_DEFAULT));
  if (set.empty()) return;
  // The program's own path, not /proc/self/exe, which would make its name "exe" in ps and top.
  std::error_code error;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", error).string();
  execv(error ? "/proc/self/exe" : self.c_str(), argv);
  // exec failed: carry on as we are, and take back what only a new start would have applied,
  // so that the notes say what runs.
  for (const Setting& setting : set) {
    unsetenv(setting.name);
    unsetenv(setting.marker);
  }
}

void chooseThreadingEnvironment() {
  // The BLAS LibTorch links (Debian: libblas.so.3, OpenBLAS through the alternatives). Left
  // loaded: the caller is about to exec.
  void* blas = dlopen("libblas.so.3", RTLD_LAZY | RTLD_LOCAL);
  chooseThreading(blas ? openBlasCore(blas) : std::string());
}

std::string threadWaitNote() {
  const auto ours = [](const char* marker) {
    const char* set = std::getenv(marker);
    return set && *set;
  };
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  std::string note =
      policy ? fmt::format("OpenMP wait policy: {}{}", policy,
                           ours(kWaitMarker) ? " (set by eleanor-worker: OpenMP's threads sleep "
                                               "while OpenBLAS's work; set OMP_WAIT_POLICY to "
                                               "choose)"
                                             : "")
             : std::string("OpenMP wait policy: the library default (spinning)");
  const char* timeout = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  note += timeout ? fmt::format("; OpenBLAS idle threads spin 2^{} cycles{}", timeout,
                                ours(kTimeoutMarker)
                                    ? " (set by eleanor-worker: they sleep while OpenMP's "
                                      "work; set OPENBLAS_THREAD_TIMEOUT to choose)"
                                    : "")
                  : "; OpenBLAS idle threads: the library default (spinning ~0.1 s)";
  return note;
}

std::string memoryPagesNote() {
  std::string mode = "unknown";
  if (std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r")) {
    char line[128] = {};
    if (std::fgets(line, sizeof line, f)) {  // "always [madvise] never": the chosen one
      const char* open = std::strchr(line, '[');
      const char* close = open ? std::strchr(open, ']') : nullptr;
      if (close) mode.assign(open + 1, close);
    }
    std::fclose(f);
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const char* ours = std::getenv(kTunablesMarker);
  const bool asked = tunables && std::strstr(tunables, kHugePages);
  std::string note =
      asked ? fmt::format("malloc asks for transparent huge pages (GLIBC_TUNABLES={}{})", tunables,
                          ours && *ours ? ", set by eleanor-worker: the search reads scattered "
                                          "shard rows; set GLIBC_TUNABLES to choose"
                                        : "")
      : tunables ? fmt::format("GLIBC_TUNABLES={} (malloc's huge pages left to it)", tunables)
                 : std::string("malloc's default pages");
  note += fmt::format("; the kernel's huge-page mode: {}", mode);
  if (asked && mode == "never") note += " (so the request has no effect)";
  return note;
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
