// What the CPU offers for matrix products beyond the BLAS's float32 kernels.
#pragma once

#include <cstdint>
#include <string>

namespace eleanor {

// True when this CPU has AMX tile units with bfloat16 products (Sapphire Rapids and later) and
// the kernel lets this process use them (Linux 5.16+: the tile state is granted per process
// through arch_prctl, which this asks for). oneDNN, which LibTorch runs bfloat16 matrix
// products through, then uses them: on the build machine (2 cores) a 1024 x 4096 x 384
// product took 4.3 ms in bfloat16 against 13-17 ms in float32 (OpenBLAS SkylakeX kernels).
bool amxBf16Usable();

// "AMX bfloat16: yes" / "AMX bfloat16: no (...why...)", for the log and doctor.
std::string matrixUnitsNote();

// MemAvailable from /proc/meminfo in bytes (what can be allocated without swapping), or -1
// where it cannot be read.
int64_t availableMemoryBytes();

}  // namespace eleanor
