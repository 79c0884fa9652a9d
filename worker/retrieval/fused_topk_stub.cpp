// fused_topk.h without CUDA: the kernel is not in this build; callers take the matrix path.
#include "common/error.h"
#include "worker/retrieval/fused_topk.h"

namespace eleanor {

bool fusedTopKAvailable() {
  return false;
}

std::string fusedTopKUnsupported(const FusedTopKProblem&) {
  return "this build has no CUDA (ELEANOR_WITH_CUDA)";
}

std::string fusedTopKKernelName(const FusedTopKProblem&) {
  return "";
}

std::string fusedTopKScores(const FusedTopKProblem&, float*) {
  return "this build has no CUDA (ELEANOR_WITH_CUDA)";
}

std::string fusedTopKPhases(const FusedTopKProblem&, const FusedScanVariant&, FusedScanPhases&,
                            float*, int64_t*) {
  return "this build has no CUDA (ELEANOR_WITH_CUDA)";
}

std::string fusedTopKHopperUnsupported(const FusedTopKProblem&) {
  return "this build has no CUDA (ELEANOR_WITH_CUDA)";
}

std::string fusedTopKFloorScanUnsupported(const FusedTopKProblem&) {
  return "this build has no CUDA (ELEANOR_WITH_CUDA)";
}

std::string fusedTopKHopperFault() {
  return "";
}

size_t fusedTopKWorkspaceBytes(const FusedTopKProblem&) {
  return 0;
}

const char* fusedTopK(const FusedTopKProblem&, int64_t, float*, int64_t*, void*, size_t) {
  throw InternalError("fusedTopK: this build has no CUDA kernel (check fusedTopKAvailable first)");
}

}  // namespace eleanor
