// OpenBLAS picks its kernels from the CPU model, and a model newer than the library (Debian
// 12's OpenBLAS 0.3.21 on a 5th-generation Xeon, say) falls back to the Prescott (SSE3)
// kernels: matrix products 3-4x slower than the CPU can run them. The library reads
// OPENBLAS_CORETYPE once, as it loads, so the fix is to set it and start the program again
// (or set it before starting it: eleanor-worker's stub). OpenMP's wait policy is the same kind
// of setting.
#pragma once

#include <string>

namespace eleanor {

// Threading settings that only the environment can give, and only before the libraries
// load, so they are set and the program started again:
// - OPENBLAS_CORETYPE, when this process runs OpenBLAS with kernels older than the CPU
//   supports (no AVX2 kernels on an AVX2 CPU): SkylakeX with AVX-512, else Haswell.
// - OMP_WAIT_POLICY=passive. A search alternates OpenBLAS's threads (its sgemm) with OpenMP's
//   (the per-query selection); with OpenMP's default, its threads spin after each region and
//   take the cores from OpenBLAS's: the job's search ran 1.6x slower on 2 threads than on one,
//   and 1024 x 100k x 384 at k = 100 took 809 ms instead of 517 (build machine, 2 cores).
// - OPENBLAS_THREAD_TIMEOUT=4: the other half. OpenBLAS's idle threads spin 2^28 cycles
//   (~0.1 s) after each call by default, so through the whole selection that follows each
//   tile's sgemm: 1024 x 100k x 384, k = 10 took 391-590 ms against 362-445 with 2^4
//   (alternate runs, build machine, 2 cores).
// - GLIBC_TUNABLES=glibc.malloc.hugetlb=1: malloc asks the kernel for transparent huge pages
//   (madvise) on its large blocks, where the kernel leaves that to the program (THP mode
//   `madvise`, Debian's default). The exact rescoring reads rows scattered over a shard far
//   larger than the caches, and with 4 KiB pages most of them cost a TLB miss: 1M x 384, k = 10
//   rescored in 8.6 ms instead of 10.8 (one thread, build machine).
// A setting the user made is kept. ensureThreadingEnvironment re-executes the program when it
// set anything: call it first thing in main, before MPI is initialised.
void ensureThreadingEnvironment(char** argv);

// The same choice without loading LibTorch, for eleanor-worker's stub (worker/worker_stub.cpp):
// loads the system BLAS (libblas.so.3) to ask OpenBLAS its core and sets the variables for the
// program it executes next, which then never needs to start over.
void chooseThreadingEnvironment();

// "OpenMP wait policy: passive (set by eleanor-worker: ...); OpenBLAS idle threads spin 2^4
// cycles (...)", for the log and doctor.
std::string threadWaitNote();

// "malloc asks for transparent huge pages (GLIBC_TUNABLES=..., set by eleanor-worker: ...);
// the kernel's mode: madvise", for the log and doctor; says when the kernel's mode (`never`)
// leaves the request without effect.
std::string memoryPagesNote();

// While alive, OpenBLAS runs each call on the calling thread alone (openblas_set_num_threads(1);
// the count before is restored at the end). For code that runs its own threads around BLAS
// calls, such as one model call per text side by side on the intra-op threads: OpenBLAS's pool
// would otherwise split every small product of both calls over the same cores (the CPU
// embedder ran 1.3-2.0x slower). Does nothing without OpenBLAS's pthreads build (its OpenMP
// build runs calls inside a parallel region inline already). Not for use inside a parallel
// region: create it on the thread that starts one.
class BlasOnCallingThread {
 public:
  BlasOnCallingThread();
  ~BlasOnCallingThread();
  BlasOnCallingThread(const BlasOnCallingThread&) = delete;
  BlasOnCallingThread& operator=(const BlasOnCallingThread&) = delete;

 private:
  int previous_ = 0;  // OpenBLAS's thread count before; 0: left alone
};

// "OpenBLAS kernels: SkylakeX (OpenBLAS chose Prescott for this CPU; set OPENBLAS_CORETYPE to
// choose)" after a re-execution, "OpenBLAS kernels: Haswell" otherwise, "" without OpenBLAS.
std::string blasKernelsNote();

}  // namespace eleanor
