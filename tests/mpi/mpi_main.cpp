// GoogleTest main for the multi-rank tests: one MPI world per process group; every rank runs
// every test (tests are collective), and only rank 0 prints GoogleTest's report.
#include <gtest/gtest.h>

#include "common/mpi_communicator.h"
#include "common/process_identity.h"
#include "tests/mpi_gtest.h"

int main(int argc, char** argv) {
  eleanor::MpiSession session(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  eleanor::setProcessIdentity({rank, size, 0, 1, eleanor::hostName()});
  return eleanor::runTestsOnEveryRank(rank);
}
