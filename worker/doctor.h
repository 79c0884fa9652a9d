// `eleanor-worker doctor`: what a user checks first, printed by rank 0 (collective).
#pragma once

#include <string>

#include "common/communicator.h"
#include "worker/job_config.h"

namespace eleanor {

// Prints the versions (LibTorch, BLAS, MPI, CUDA, NCCL), the world (size, ranks per host) and
// the config it would run. `config` may be null when none could be loaded; `configProblem`
// then says why. Returns the exit code: 0 when everything a run needs is in place.
int runDoctor(Communicator& comm, const JobConfig* config, const std::string& configProblem);

}  // namespace eleanor
