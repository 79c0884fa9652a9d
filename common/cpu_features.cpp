#include "common/cpu_features.h"

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

MatrixUnits probeAmx() {
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

MatrixUnits probeAvx512Bf16() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u))
    return {false, "the OS does not save the vector registers (no OSXSAVE)"};
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return {false, "the CPU reports no leaf 7"};
  // AVX-512 F, DQ, BW and VL (what oneDNN calls avx512_core), then BF16 (leaf 7, subleaf 1).
  constexpr unsigned kAvx512Core = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
  if ((b & kAvx512Core) != kAvx512Core) return {false, "this CPU has no AVX-512"};
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !((a >> 5) & 1u))
    return {false, "this CPU has AVX-512 without BF16"};
  // The OS saves the opmask and all 512-bit registers (XCR0 bits 1, 2, 5, 6, 7).
  unsigned low = 0, high = 0;
  asm volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  if ((low & 0xE6u) != 0xE6u) return {false, "the OS does not enable the AVX-512 registers"};
  return {true, ""};
#else
  return {false, "not an x86-64 CPU"};
#endif
}

// Both probed once per process (the AMX one asks the kernel for the tile state).
struct Probes {
  MatrixUnits amx = probeAmx();
  MatrixUnits avx512Bf16 = probeAvx512Bf16();
};

const Probes& probes() {
  static const Probes probed;
  return probed;
}

}  // namespace

bool amxBf16Usable() {
  return probes().amx.usable;
}

bool avx512Bf16Usable() {
  return probes().avx512Bf16.usable;
}

bool bf16ProductsFast() {
  return amxBf16Usable() || avx512Bf16Usable();
}

std::string matrixUnitsNote() {
  const auto note = [](const char* name, const MatrixUnits& u) {
    return std::string(name) + (u.usable ? ": yes" : ": no (" + u.why + ")");
  };
  return note("AMX bfloat16", probes().amx) + "; " + note("AVX512-BF16", probes().avx512Bf16);
}

}  // namespace eleanor
