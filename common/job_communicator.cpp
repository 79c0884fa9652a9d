#include "common/job_communicator.h"

#include <fmt/format.h>

#ifdef ELEANOR_HAVE_NCCL
#include "common/nccl_communicator.h"
#endif

namespace eleanor {

bool ncclBuilt() {
#ifdef ELEANOR_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::shared_ptr<Communicator> makeJobCommunicator(const std::string& backend, MpiCommunicator& mpi,
                                                  int cudaDevice, double timeoutSeconds) {
  // Not owned: the MPI communicator outlives the job.
  std::shared_ptr<Communicator> viaMpi(&mpi, [](Communicator*) {});
  if (backend == "mpi") return viaMpi;

  // The first rank without a GPU (or size() when every rank has one), agreed by all.
  int64_t firstCpuRank = cudaDevice >= 0 ? mpi.size() : mpi.rank();
  int64_t negated = -firstCpuRank;
  mpi.allReduceMax(std::span<int64_t>(&negated, 1));
  firstCpuRank = -negated;
  const bool everyRankHasGpu = firstCpuRank == mpi.size();

  if (backend == "auto" && !(ncclBuilt() && everyRankHasGpu)) return viaMpi;
  if (!ncclBuilt())
    throw UserError(
        "comm.backend = nccl but this build has no NCCL (configure with "
        "-DELEANOR_WITH_NCCL=ON where NCCL is installed), or use comm.backend: mpi");
  if (!everyRankHasGpu)
    throw UserError(
        fmt::format("comm.backend = nccl needs every rank on a GPU, but rank {} runs "
                    "on the CPU: use comm.backend: auto or mpi, or give every rank a "
                    "GPU",
                    firstCpuRank));
#ifdef ELEANOR_HAVE_NCCL
  return std::make_shared<NcclCommunicator>(MPI_COMM_WORLD, cudaDevice, timeoutSeconds);
#else
  return viaMpi;
#endif
}

}  // namespace eleanor
