// The MPI communicator and failure agreement, at whatever W mpirun started (1..4 in CTest).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <numeric>
#include <optional>
#include <thread>

#include "common/agreement.h"
#include "common/mpi_communicator.h"

namespace eleanor {
namespace {

constexpr double kTimeout = 60;

TEST(MpiCommunicator, AllGatherFixedSize) {
  MpiCommunicator comm(kTimeout);
  const int64_t mine[2] = {comm.rank(), comm.rank() * 10};
  std::vector<int64_t> all(2 * comm.size());
  comm.allGather(mine, all.data(), sizeof(mine));
  for (int r = 0; r < comm.size(); ++r) {
    EXPECT_EQ(all[2 * r], r);
    EXPECT_EQ(all[2 * r + 1], r * 10);
  }
}

TEST(MpiCommunicator, AllGatherVariableSizesIncludingEmpty) {
  MpiCommunicator comm(kTimeout);
  // Rank r sends r values (rank 0 sends nothing), each value 1000 r + i.
  std::vector<int32_t> mine(comm.rank());
  for (int i = 0; i < comm.rank(); ++i) mine[i] = 1000 * comm.rank() + i;
  std::vector<size_t> counts;
  const auto all = allGatherValues<int32_t>(comm, std::span<const int32_t>(mine), &counts);
  ASSERT_EQ(counts.size(), static_cast<size_t>(comm.size()));
  size_t at = 0;
  for (int r = 0; r < comm.size(); ++r) {
    ASSERT_EQ(counts[r], static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) EXPECT_EQ(all[at++], 1000 * r + i);
  }
  EXPECT_EQ(at, all.size());
}

TEST(MpiCommunicator, GatherToEveryRoot) {
  MpiCommunicator comm(kTimeout);
  for (int root = 0; root < comm.size(); ++root) {
    const std::string mine(static_cast<size_t>(comm.rank() + 1),
                           static_cast<char>('a' + comm.rank()));
    std::vector<std::byte> bytes;
    std::vector<size_t> counts;
    comm.gatherV(mine.data(), mine.size(), root, bytes, counts);
    if (comm.rank() != root) {
      EXPECT_TRUE(bytes.empty());
      continue;
    }
    std::string expected;
    for (int r = 0; r < comm.size(); ++r)
      expected += std::string(r + 1, static_cast<char>('a' + r));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), expected);
  }
}

TEST(MpiCommunicator, AllToAllVEveryPairIncludingEmpty) {
  MpiCommunicator comm(kTimeout);
  const int world = comm.size();
  // Rank i sends rank j (i + 2 j) % 4 values, each 10000 i + 100 j + index: some blocks
  // empty, the block to itself included; a second pass where only rank 0 receives.
  for (int pass = 0; pass < 2; ++pass) {
    const auto count = [&](int i, int j) -> size_t {
      if (pass == 1) return j == 0 ? static_cast<size_t>(3 + i) : 0;
      return static_cast<size_t>((i + 2 * j) % 4);
    };
    std::vector<int32_t> send;
    std::vector<size_t> sendCounts;
    for (int j = 0; j < world; ++j) {
      for (size_t v = 0; v < count(comm.rank(), j); ++v)
        send.push_back(10000 * comm.rank() + 100 * j + static_cast<int32_t>(v));
      sendCounts.push_back(count(comm.rank(), j) * sizeof(int32_t));
    }
    std::vector<std::byte> recv{std::byte{9}};  // stale content must go
    std::vector<size_t> recvCounts{77};
    comm.allToAllV(send.data(), sendCounts, recv, recvCounts);
    ASSERT_EQ(recvCounts.size(), static_cast<size_t>(world));
    std::vector<int32_t> expected;
    for (int i = 0; i < world; ++i) {
      EXPECT_EQ(recvCounts[i], count(i, comm.rank()) * sizeof(int32_t)) << "from rank " << i;
      for (size_t v = 0; v < count(i, comm.rank()); ++v)
        expected.push_back(10000 * i + 100 * comm.rank() + static_cast<int32_t>(v));
    }
    ASSERT_EQ(recv.size(), expected.size() * sizeof(int32_t)) << "pass " << pass;
    std::vector<int32_t> got(expected.size());
    // Nothing to copy where this rank receives nothing (memcpy from null is undefined).
    if (!recv.empty()) std::memcpy(got.data(), recv.data(), recv.size());
    EXPECT_EQ(got, expected) << "pass " << pass;
  }
}

TEST(MpiCommunicator, AllToAllVRefusesCountsForAnotherWorldSize) {
  MpiCommunicator comm(kTimeout);
  const std::vector<size_t> counts(static_cast<size_t>(comm.size()) + 1, 0);
  std::vector<std::byte> recv;
  std::vector<size_t> recvCounts;
  EXPECT_THROW(comm.allToAllV(nullptr, counts, recv, recvCounts), InternalError);
}

TEST(MpiCommunicator, BroadcastAndReductions) {
  MpiCommunicator comm(kTimeout);
  int64_t value = comm.rank() == comm.size() - 1 ? 4242 : -1;
  comm.broadcast(&value, sizeof(value), comm.size() - 1);
  EXPECT_EQ(value, 4242);

  std::vector<int64_t> sums{comm.rank(), 1};
  comm.allReduceSum(std::span<int64_t>(sums));
  EXPECT_EQ(sums[0], int64_t(comm.size()) * (comm.size() - 1) / 2);
  EXPECT_EQ(sums[1], comm.size());
  double half = 0.5;
  comm.allReduceSum(std::span<double>(&half, 1));
  EXPECT_DOUBLE_EQ(half, 0.5 * comm.size());
  int64_t biggest = comm.rank() * 7;
  comm.allReduceMax(std::span<int64_t>(&biggest, 1));
  EXPECT_EQ(biggest, (comm.size() - 1) * 7);
  comm.barrier();
}

TEST(Agreement, EveryRankStopsWithTheFailingRanksMessage) {
  MpiCommunicator comm(kTimeout);
  const int culprit = comm.size() - 1;
  try {
    runAgreed(comm, "load", [&] {
      if (comm.rank() == culprit) throw UserError("corpus 'x' has dimension 768");
    });
    FAIL() << "every rank must throw";
  } catch (const JobFailure& e) {
    EXPECT_EQ(e.exitCode(), 2);
    const std::string message = e.what();
    EXPECT_NE(message.find("corpus 'x' has dimension 768"), std::string::npos) << message;
    if (comm.size() > 1) {
      EXPECT_NE(message.find("rank " + std::to_string(culprit) + "/"), std::string::npos)
          << message;
      EXPECT_NE(message.find("stage 'load'"), std::string::npos) << message;
    }
  }
  // The job can still talk afterwards (the failure was agreed, not a broken collective).
  int64_t one = 1;
  comm.allReduceSum(std::span<int64_t>(&one, 1));
  EXPECT_EQ(one, comm.size());
}

TEST(Agreement, InternalErrorsGiveExitCodeOneAndListEveryFailingRank) {
  MpiCommunicator comm(kTimeout);
  try {
    runAgreed(comm, "search", [&] {
      if (comm.rank() % 2 == 1 || comm.size() == 1) throw std::runtime_error("boom");
    });
    FAIL() << "every rank must throw";
  } catch (const JobFailure& e) {
    EXPECT_EQ(e.exitCode(), 1);
    const int failing = comm.size() == 1 ? 1 : comm.size() / 2;
    if (failing > 1) {
      EXPECT_NE(std::string(e.what()).find("ranks failed"), std::string::npos);
    }
    if (comm.size() > 1) {
      EXPECT_NE(std::string(e.what()).find("rank 1/"), std::string::npos);
    }
  }
  EXPECT_NO_THROW(runAgreed(comm, "fine", [] {}));
}

TEST(Agreement, AFailureCausedByAPeerNamesThePeersOwnFailure) {
  MpiCommunicator comm(kTimeout);
  const int culprit = comm.size() - 1;
  try {
    runAgreed(comm, "aggregate", [&] {
      if (comm.rank() == culprit) throw UserError("row 9 is not in this shard");
      throw PeerFailure("rank " + std::to_string(culprit) + " sent nothing");
    });
    FAIL() << "every rank must throw";
  } catch (const JobFailure& e) {
    EXPECT_EQ(e.exitCode(), 2);  // the culprit's own failure's code
    const std::string message = e.what();
    EXPECT_NE(message.find("row 9 is not in this shard"), std::string::npos) << message;
    if (comm.size() > 1) {
      EXPECT_NE(message.find("rank " + std::to_string(culprit) + "/"), std::string::npos)
          << message;
      EXPECT_NE(message.find(std::to_string(comm.size()) + " of " + std::to_string(comm.size()) +
                             " ranks failed"),
                std::string::npos)
          << message;
    }
  }
  // Only consequences: the first one is named.
  try {
    runAgreed(comm, "aggregate", [&] { throw PeerFailure("a peer sent nothing"); });
    FAIL() << "every rank must throw";
  } catch (const JobFailure& e) {
    EXPECT_EQ(e.exitCode(), 1);
    EXPECT_NE(std::string(e.what()).find("a peer sent nothing"), std::string::npos) << e.what();
  }
}

// Every rank tells rank 0 which collective it enters, on a side communicator. Rank 0 must not
// free that communicator while one of those messages can still land: Open MPI hands a message
// for a freed communicator to the next one given the same context id, where it hangs the first
// collective (this hung mpi.np2 under load). So rank 0's destructor waits for every rank's
// goodbye, and a fresh communicator afterwards works.
bool nextCommunicatorWorks() {
  MpiCommunicator next(kTimeout);
  const int64_t mine = 7 * next.rank() + 1;
  std::vector<int64_t> all(next.size());
  next.allGather(&mine, all.data(), sizeof(mine));
  for (int r = 0; r < next.size(); ++r)
    if (all[r] != 7 * r + 1) return false;
  return true;
}

double secondsToDestroy(std::optional<MpiCommunicator>& comm) {
  const auto start = std::chrono::steady_clock::now();
  comm.reset();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(MpiCommunicator, RankZeroWaitsForEveryRanksGoodbyeBeforeFreeing) {
  std::optional<MpiCommunicator> comm(std::in_place, kTimeout);
  const int rank = comm->rank(), size = comm->size();
  for (int i = 0; i < 20; ++i) comm->barrier();  // 20 arrivals from each rank
  if (rank != 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double seconds = secondsToDestroy(comm);
  if (rank == 0 && size > 1) {
    EXPECT_GT(seconds, 0.2) << "rank 0 freed before the goodbyes";
  }
  EXPECT_TRUE(nextCommunicatorWorks());
}

TEST(MpiCommunicator, AGoodbyeLaterThanTheTimeoutKeepsTheSideCommunicator) {
  std::optional<MpiCommunicator> comm(std::in_place, kTimeout);
  const int rank = comm->rank(), size = comm->size();
  comm->barrier();
  if (rank == 0) comm->setTimeout(0.2);
  if (rank != 0) std::this_thread::sleep_for(std::chrono::milliseconds(700));
  const double seconds = secondsToDestroy(comm);
  if (rank == 0 && size > 1) {
    EXPECT_GT(seconds, 0.15);
    EXPECT_LT(seconds, 0.6) << "rank 0 waited past its timeout";
  }
  // The late goodbyes land on the side communicator rank 0 kept, not on the next one.
  EXPECT_TRUE(nextCommunicatorWorks());
}

TEST(MpiCommunicator, ManyCommunicatorsOneAfterAnother) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(nextCommunicatorWorks()) << "communicator " << i;
}

TEST(MpiCommunicator, StuckPeerBecomesATimeoutNamingTheStage) {
  MpiCommunicator comm(kTimeout);
  if (comm.size() == 1) GTEST_SKIP() << "needs a peer";
  if (comm.rank() == 0) {
    comm.setTimeout(0.5);
    comm.setStage("gather-results");
    const auto start = std::chrono::steady_clock::now();
    try {
      comm.barrier();
      FAIL() << "the barrier cannot complete while the peers sleep";
    } catch (const CollectiveTimeout& e) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_LT(waited, 1.5);
      EXPECT_NE(std::string(e.what()).find("stage 'gather-results'"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("0.5 s"), std::string::npos);
      // Rank 0 names every rank that has not arrived, its host and where it was last seen.
      for (int r = 1; r < comm.size(); ++r) {
        EXPECT_NE(std::string(e.what()).find(fmt::format("rank {}/{} (", r, comm.size())),
                  std::string::npos)
            << e.what();
      }
      EXPECT_NE(std::string(e.what()).find("never reached it"), std::string::npos) << e.what();
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    comm.barrier();  // completes: rank 0's barrier was posted before it gave up
  }
}

}  // namespace
}  // namespace eleanor
