#include "common/cpu_features.h"

#include <fstream>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace eleanor {
namespace {

struct MatrixUnits {
  bool usable = false;
  std::string why;
};

MatrixUnits probe() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return {false, "the CPU reports no leaf 7"};
  const bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u;
  if (!tile || !bf16) return {false, "this CPU has no AMX bfloat16 units"};
  // Linux grants the 8 KiB tile state per process on request (ARCH_REQ_XCOMP_PERM for
  // XFEATURE_XTILEDATA); a kernel before 5.16 refuses, and oneDNN then cannot use the units.
  constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
  if (syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) != 0)
    return {false, "the kernel does not grant AMX tile state (Linux 5.16 or later needed)"};
  return {true, ""};
#else
  return {false, "not an x86-64 CPU"};
#endif
}

const MatrixUnits& units() {
  static const MatrixUnits probed = probe();
  return probed;
}

}  // namespace

bool amxBf16Usable() {
  return units().usable;
}

int64_t availableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t value = 0;
  while (meminfo >> key >> value >> unit)
    if (key == "MemAvailable:" && unit == "kB") return value * 1024;
  return -1;
}

std::string matrixUnitsNote() {
  return units().usable ? "AMX bfloat16: yes" : "AMX bfloat16: no (" + units().why + ")";
}

}  // namespace eleanor
