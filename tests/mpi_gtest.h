// Running GoogleTest in an MPI world: every rank runs every (collective) test, only rank 0
// prints GoogleTest's report, and a test that fails on any rank fails every rank's exit code.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

namespace eleanor {

inline int runTestsOnEveryRank(int rank) {
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}

}  // namespace eleanor
