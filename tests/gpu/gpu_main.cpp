// GoogleTest main for the GPU tests (label gpu): an MPI world like the multi-rank tests. On a
// machine without a usable GPU it prints why and exits 77, which CTest reports as skipped.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "common/mpi_communicator.h"
#include "common/process_identity.h"
#include "tests/mpi_gtest.h"

int main(int argc, char** argv) {
  eleanor::MpiSession session(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  eleanor::setProcessIdentity({rank, size, 0, 1, eleanor::hostName()});

  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  int usable = status == cudaSuccess && devices > 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &usable, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!usable) {
    if (rank == 0)
      std::printf(
          "SKIPPED: no usable GPU on this machine (%s); the GPU tests run on a GPU "
          "machine (scripts/gpu-check.sh)\n",
          status == cudaSuccess ? "no device" : cudaGetErrorString(status));
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return eleanor::runTestsOnEveryRank(rank);
}
