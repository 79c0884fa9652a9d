// OpenBLAS picks its kernels from the CPU model, and a model newer than the library (Debian
// 12's OpenBLAS 0.3.21 on a 5th-generation Xeon, say) falls back to the Prescott (SSE3)
// kernels: matrix products 3-4x slower than the CPU can run them. The library reads
// OPENBLAS_CORETYPE once, as it loads, so the fix is to set it and start the program again.
#pragma once

#include <string>

namespace eleanor {

// When this process runs OpenBLAS with kernels older than the CPU supports (no AVX2 kernels
// on an AVX2 CPU) and OPENBLAS_CORETYPE is not set: sets it (SkylakeX with AVX-512, else
// Haswell) and re-executes the program with the same arguments. Call first thing in main,
// before MPI is initialised. Returns otherwise (not OpenBLAS, a good core, or a user choice).
void ensureFastBlasKernels(char** argv);

// The same choice made without loading LibTorch, for eleanor-worker's launcher stub (worker/
// worker_stub.cpp): loads the system BLAS (libblas.so.3) to ask OpenBLAS its core, and sets
// OPENBLAS_CORETYPE (and the note's record of the fallback) for the program it executes next,
// which then never needs to start over. Does nothing where OPENBLAS_CORETYPE is set or the
// BLAS is not OpenBLAS.
void chooseBlasKernelsBeforeLoading();

// "OpenBLAS kernels: SkylakeX (OpenBLAS chose Prescott for this CPU; set OPENBLAS_CORETYPE to
// choose)" after a re-execution, "OpenBLAS kernels: Haswell" otherwise, "" without OpenBLAS.
std::string blasKernelsNote();

}  // namespace eleanor
