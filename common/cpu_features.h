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

// True when this CPU has AVX-512 with its bfloat16 dot products (AVX512-BF16: Cooper Lake, AMD
// Zen 4 and later) and the OS keeps the AVX-512 registers: oneDNN then runs bfloat16 products
// on them. On an AMD EPYC with it (2 cores, 2026-12-06) a 4096^3 product ran at 653 GFLOP/s in
// bfloat16 against 193 in float32 (OpenBLAS), and the search 4x faster (docs/benchmarks.md).
bool avx512Bf16Usable();

// Whether bfloat16 matrix products run on bfloat16 hardware here (AMX or AVX512-BF16): what
// search.cpu_dtype auto chooses bfloat16 on.
bool bf16ProductsFast();

// "AMX bfloat16: yes|no (...why...); AVX512-BF16: yes|no (...why...)", for the log and doctor.
std::string matrixUnitsNote();

}  // namespace eleanor
