// ELEANOR_CHECK_CUDA and ELEANOR_CHECK_NCCL: thin checks over CUDA runtime and NCCL calls that
// throw InternalError through throwLibraryError (call text, file:line, rank/world, host) with the
// library's own message. For CUDA-only files. ELEANOR_CHECK_NCCL exists where nccl.h does, so a
// CUDA build without NCCL can still use ELEANOR_CHECK_CUDA from here.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#if __has_include(<nccl.h>)
#include <nccl.h>
#define ELEANOR_CUDA_CHECK_HAS_NCCL 1
#endif

#include "common/error.h"

namespace eleanor {

// "cudaErrorMemoryAllocation: out of memory"
inline std::string cudaErrorText(cudaError_t code) {
  return std::string(cudaGetErrorName(code)) + ": " + cudaGetErrorString(code);
}

#ifdef ELEANOR_CUDA_CHECK_HAS_NCCL
// "unhandled system error: <NCCL's last error message>". ncclGetLastError ignores its comm
// argument (NCCL 2.28) and may describe an earlier asynchronous failure, so it is context, not
// proof.
inline std::string ncclErrorText(ncclResult_t code, ncclComm_t comm = nullptr) {
  std::string text = ncclGetErrorString(code);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') text += std::string(": ") + last;
  return text;
}
#endif

}  // namespace eleanor

#define ELEANOR_CHECK_CUDA(call)                                                            \
  do {                                                                                      \
    const cudaError_t eleanorCudaRc_ = (call);                                              \
    if (eleanorCudaRc_ != cudaSuccess)                                                      \
      ::eleanor::throwLibraryError("CUDA", #call, ::eleanor::cudaErrorText(eleanorCudaRc_), \
                                   __FILE__, __LINE__);                                     \
  } while (0)

#ifdef ELEANOR_CUDA_CHECK_HAS_NCCL
// ncclInProgress counts as success: a non-blocking communicator returns it from init and
// enqueue calls, and the caller then polls ncclCommGetAsyncError for the outcome.
#define ELEANOR_CHECK_NCCL(call)                                                            \
  do {                                                                                      \
    const ncclResult_t eleanorNcclRc_ = (call);                                             \
    if (eleanorNcclRc_ != ncclSuccess && eleanorNcclRc_ != ncclInProgress)                  \
      ::eleanor::throwLibraryError("NCCL", #call, ::eleanor::ncclErrorText(eleanorNcclRc_), \
                                   __FILE__, __LINE__);                                     \
  } while (0)
#endif
