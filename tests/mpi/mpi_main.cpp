// GoogleTest main for the multi-rank tests: one MPI world per process group; every rank runs
// every test (tests are collective), and only rank 0 prints GoogleTest's report.
#include <gtest/gtest.h>

#include "common/mpi_communicator.h"
#include "common/process_identity.h"

int main(int argc, char** argv) {
  eleanor::MpiSession session(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  eleanor::setProcessIdentity({rank, size, 0, 1, eleanor::hostName()});
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  // A test that fails on any rank fails the job.
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}
