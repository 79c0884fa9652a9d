// The job's communicator: NCCL between GPUs, MPI otherwise, chosen once at start-up.
#pragma once

#include <memory>
#include <string>

#include "common/communicator.h"
#include "common/mpi_communicator.h"

namespace eleanor {

// Collective over `mpi`: every rank must call. `backend` is comm.backend: "mpi" gives `mpi`
// itself (not owned); "nccl" gives an NcclCommunicator on `cudaDevice` (UserError when this build
// has no NCCL or some rank has no GPU: the error names the rank); "auto" is nccl when NCCL is
// built and every rank has a GPU (cudaDevice >= 0), else mpi.
std::shared_ptr<Communicator> makeJobCommunicator(const std::string& backend, MpiCommunicator& mpi,
                                                  int cudaDevice, double timeoutSeconds);

// True when this build includes the NCCL communicator.
bool ncclBuilt();

}  // namespace eleanor
