// The NCCL communicator on real GPUs, at whatever W mpirun started, one GPU per rank (device =
// local rank % GPUs on the host). Every value is checked exactly against what each rank sent.
// Compiled only in builds with NCCL (ELEANOR_HAVE_NCCL, public on eleanor_common).
#ifdef ELEANOR_HAVE_NCCL

#include "common/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/agreement.h"

namespace eleanor {
namespace {

constexpr double kTimeout = 60;
constexpr uint64_t kSeed = 20261126;
// The stuck-collective tests: the short timeout, and how late a throw may come after it
// (polling, ncclCommAbort, which also waits out the stalled-stream test's 1 s stall) before it
// counts as not honouring the timeout.
constexpr double kShortTimeout = 0.5;
constexpr double kLatestThrow = 1.5;

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Byte i of what `rank` sends in round `round`: every rank can recompute every other's data.
uint8_t byteAt(uint64_t round, int rank, size_t i) {
  uint64_t x = kSeed ^ (round * 0x9E3779B97F4A7C15ULL) ^ (uint64_t(rank) << 48) ^ i;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 29;
  return static_cast<uint8_t>(x);
}

std::vector<uint8_t> pattern(uint64_t round, int rank, size_t bytes) {
  std::vector<uint8_t> data(bytes);
  for (size_t i = 0; i < bytes; ++i) data[i] = byteAt(round, rank, i);
  return data;
}

// First index where `got` differs from rank's pattern, or -1.
long firstMismatch(const uint8_t* got, uint64_t round, int rank, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i)
    if (got[i] != byteAt(round, rank, i)) return static_cast<long>(i);
  return -1;
}

// Device memory for one test, freed on every path.
class DeviceBytes {
 public:
  explicit DeviceBytes(size_t bytes) : bytes_(bytes) {
    EXPECT_EQ(cudaMalloc(&data_, std::max<size_t>(bytes, 1)), cudaSuccess);
  }
  ~DeviceBytes() { cudaFree(data_); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  char* get() const { return static_cast<char*>(data_); }
  void upload(const std::vector<uint8_t>& host, size_t offset = 0) {
    if (host.empty()) return;
    EXPECT_EQ(cudaMemcpy(get() + offset, host.data(), host.size(), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> host(bytes_);
    if (bytes_ > 0) {
      EXPECT_EQ(cudaMemcpy(host.data(), data_, bytes_, cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return host;
  }

 private:
  void* data_ = nullptr;
  size_t bytes_;
};

struct Placement {
  int device = -1;
  std::string skipReason;  // "" when every rank has a GPU of its own
};

// device = local rank % GPUs on this host. NCCL refuses two ranks of one communicator on one
// GPU, so if any host has more ranks than GPUs, every rank skips (agreed, so none waits alone).
Placement placeThisRank() {
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  int localRank = 0, localSize = 1;
  MPI_Comm_rank(local, &localRank);
  MPI_Comm_size(local, &localSize);
  MPI_Comm_free(&local);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  int crowded = localSize > devices ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &crowded, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  Placement placement;
  placement.device = devices > 0 ? localRank % devices : 0;
  if (crowded) {
    placement.skipReason = fmt::format(
        "a host runs more ranks than it has GPUs (here {} ranks, {} GPUs): NCCL refuses two "
        "ranks on one GPU; run with at most one rank per GPU",
        localSize, devices);
  }
  return placement;
}

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    placement_ = placeThisRank();
    if (!placement_.skipReason.empty()) GTEST_SKIP() << placement_.skipReason;
    comm_ = std::make_unique<NcclCommunicator>(MPI_COMM_WORLD, placement_.device, kTimeout);
  }

  NcclCommunicator& comm() { return *comm_; }
  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }

  Placement placement_;
  std::unique_ptr<NcclCommunicator> comm_;
};

TEST_F(NcclCommunicatorTest, ReportsItsPlace) {
  int worldRank = 0, worldSize = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
  EXPECT_EQ(comm().rank(), worldRank);
  EXPECT_EQ(comm().size(), worldSize);
  EXPECT_EQ(comm().backend(), "nccl");
  EXPECT_EQ(comm().device(), placement_.device);
  EXPECT_NE(comm().stream(), nullptr);
  EXPECT_FALSE(comm().broken());
}

TEST_F(NcclCommunicatorTest, AllGatherFixedSizes) {
  // 0 bytes, tiny, one above the first staging size (64 KiB, so the buffers grow), and odd.
  const size_t sizes[] = {0, 1, 8, 1000, (64 << 10) + 1, 3, (1 << 20) + 7};
  uint64_t round = 0;
  for (size_t bytes : sizes) {
    SCOPED_TRACE(
        fmt::format("seed {} round {} bytes {} rank {}/{}", kSeed, round, bytes, rank(), size()));
    const auto mine = pattern(round, rank(), bytes);
    std::vector<uint8_t> all(bytes * size() + 1, 0xee);
    comm().allGather(mine.data(), all.data(), bytes);
    for (int r = 0; r < size(); ++r)
      EXPECT_EQ(firstMismatch(all.data() + r * bytes, round, r, bytes), -1)
          << "block of rank " << r;
    EXPECT_EQ(all.back(), 0xee) << "wrote past the end";
    ++round;
  }
}

TEST_F(NcclCommunicatorTest, AllGatherVVariableSizesIncludingEmpty) {
  std::mt19937_64 random(kSeed);  // same sequence on every rank: all know every size
  std::uniform_int_distribution<size_t> anySize(0, 200000);
  for (uint64_t round = 0; round < 6; ++round) {
    std::vector<size_t> sizes(size());
    for (int r = 0; r < size(); ++r) {
      if (round == 0) {
        sizes[r] = 3 * r;  // rank 0 sends nothing
      } else if (round == 1) {
        sizes[r] = 0;  // nobody sends
      } else if (round == 2) {
        sizes[r] = r == size() - 1 ? 100000 : 0;  // one sender
      } else {
        sizes[r] = r % 3 == 1 ? 0 : anySize(random);  // random, some empty
      }
    }
    SCOPED_TRACE(fmt::format("seed {} round {} sizes [{}] rank {}/{}", kSeed, round,
                             fmt::join(sizes, ", "), rank(), size()));
    const auto mine = pattern(round, rank(), sizes[rank()]);
    std::vector<std::byte> all{std::byte{1}, std::byte{2}};  // stale content must go
    std::vector<size_t> counts{42};
    comm().allGatherV(mine.data(), mine.size(), all, counts);
    ASSERT_EQ(counts, sizes);
    size_t total = 0;
    for (size_t s : sizes) total += s;
    ASSERT_EQ(all.size(), total);
    size_t at = 0;
    for (int r = 0; r < size(); ++r) {
      EXPECT_EQ(
          firstMismatch(reinterpret_cast<const uint8_t*>(all.data()) + at, round, r, sizes[r]), -1)
          << "block of rank " << r;
      at += sizes[r];
    }
  }
}

TEST_F(NcclCommunicatorTest, GatherVToEveryRootIncludingEmpty) {
  for (int pass = 0; pass < 3; ++pass) {
    for (int root = 0; root < size(); ++root) {
      const uint64_t round = 100 + pass * size() + root;
      std::vector<size_t> sizes(size());
      for (int r = 0; r < size(); ++r) {
        if (pass == 0) {
          sizes[r] = 1000 * r + 5;
        } else if (pass == 1) {
          sizes[r] = r == root ? 0 : 70001 + r;  // the root sends nothing
        } else {
          sizes[r] = r == root ? 17 : 0;  // only the root has data
        }
      }
      SCOPED_TRACE(fmt::format("seed {} pass {} root {} sizes [{}] rank {}/{}", kSeed, pass, root,
                               fmt::join(sizes, ", "), rank(), size()));
      const auto mine = pattern(round, rank(), sizes[rank()]);
      const std::vector<std::byte> untouched{std::byte{7}};
      std::vector<std::byte> all = untouched;
      std::vector<size_t> counts{99};
      comm().gatherV(mine.data(), mine.size(), root, all, counts);
      if (rank() != root) {
        EXPECT_EQ(all, untouched);
        EXPECT_EQ(counts, std::vector<size_t>{99});
        continue;
      }
      ASSERT_EQ(counts, sizes);
      size_t at = 0;
      for (int r = 0; r < size(); ++r) at += sizes[r];
      ASSERT_EQ(all.size(), at);
      at = 0;
      for (int r = 0; r < size(); ++r) {
        EXPECT_EQ(
            firstMismatch(reinterpret_cast<const uint8_t*>(all.data()) + at, round, r, sizes[r]),
            -1)
            << "block of rank " << r;
        at += sizes[r];
      }
    }
  }
}

TEST_F(NcclCommunicatorTest, AllToAllVEveryPairIncludingEmpty) {
  std::mt19937_64 random(kSeed);  // same sequence on every rank: all know every size
  std::uniform_int_distribution<size_t> anySize(0, 100000);
  const size_t world = static_cast<size_t>(size());
  for (uint64_t round = 0; round < 6; ++round) {
    // sizes[i * W + j]: the bytes rank i sends rank j.
    std::vector<size_t> sizes(world * world);
    for (size_t i = 0; i < world; ++i) {
      for (size_t j = 0; j < world; ++j) {
        size_t& s = sizes[i * world + j];
        if (round == 0) {
          s = 7 * i + j + 1;
        } else if (round == 1) {
          s = 0;  // nobody sends
        } else if (round == 2) {
          s = i == j ? 100 : 0;  // only to themselves
        } else if (round == 3) {
          s = j == 0 && i != 0 ? 70001 + i : 0;  // everyone to rank 0, past the first staging
        } else {
          s = (i + j) % 3 == 1 ? 0 : anySize(random);  // random, some empty
        }
      }
    }
    SCOPED_TRACE(fmt::format("seed {} round {} sizes [{}] rank {}/{}", kSeed, round,
                             fmt::join(sizes, ", "), rank(), size()));
    // The block from i to j is pattern(64 * round + j, i, ...): every pair's bytes differ.
    std::vector<uint8_t> send;
    std::vector<size_t> sendCounts(world);
    for (size_t j = 0; j < world; ++j) {
      sendCounts[j] = sizes[rank() * world + j];
      const auto block = pattern(64 * round + j, rank(), sendCounts[j]);
      send.insert(send.end(), block.begin(), block.end());
    }
    std::vector<std::byte> all{std::byte{1}, std::byte{2}};  // stale content must go
    std::vector<size_t> counts{42};
    comm().allToAllV(send.data(), sendCounts, all, counts);
    ASSERT_EQ(counts.size(), world);
    size_t at = 0;
    for (size_t i = 0; i < world; ++i) {
      const size_t expected = sizes[i * world + rank()];
      ASSERT_EQ(counts[i], expected) << "from rank " << i;
      ASSERT_LE(at + expected, all.size());
      EXPECT_EQ(firstMismatch(reinterpret_cast<const uint8_t*>(all.data()) + at,
                              64 * round + rank(), static_cast<int>(i), expected),
                -1)
          << "block from rank " << i;
      at += expected;
    }
    EXPECT_EQ(all.size(), at);
  }
}

TEST_F(NcclCommunicatorTest, BroadcastFromEveryRoot) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{4096}, size_t{100001}}) {
    for (int root = 0; root < size(); ++root) {
      const uint64_t round = 200 + bytes + root;
      SCOPED_TRACE(
          fmt::format("seed {} bytes {} root {} rank {}/{}", kSeed, bytes, root, rank(), size()));
      std::vector<uint8_t> data =
          rank() == root ? pattern(round, root, bytes) : std::vector<uint8_t>(bytes, 0xab);
      comm().broadcast(data.data(), bytes, root);
      EXPECT_EQ(firstMismatch(data.data(), round, root, bytes), -1);
    }
  }
}

TEST_F(NcclCommunicatorTest, ReductionsAreExact) {
  const int64_t w = size();
  // Sums beyond 2^53 and of negatives: int64 must not pass through double.
  std::vector<int64_t> sums(1000);
  for (size_t i = 0; i < sums.size(); ++i)
    sums[i] = (int64_t{1} << 60) / 8 + int64_t(i) * w + rank() - (i % 2 ? int64_t(i) << 20 : 0);
  comm().allReduceSum(std::span<int64_t>(sums));
  for (size_t i = 0; i < sums.size(); ++i) {
    const int64_t expected = w * ((int64_t{1} << 60) / 8 + int64_t(i) * w) + w * (w - 1) / 2 -
                             w * (i % 2 ? int64_t(i) << 20 : 0);
    ASSERT_EQ(sums[i], expected) << "element " << i << " at W=" << w;
  }
  // Dyadic values: every partial sum is exact in binary, so any reduction order gives the same.
  std::vector<double> halves(257);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = 0.5 * (rank() + 1) + std::ldexp(i, -10);
  comm().allReduceSum(std::span<double>(halves));
  for (size_t i = 0; i < halves.size(); ++i)
    ASSERT_EQ(halves[i], 0.25 * w * (w + 1) + w * std::ldexp(i, -10)) << "element " << i;
  std::vector<int64_t> biggest(64);
  for (size_t i = 0; i < biggest.size(); ++i)
    biggest[i] = int64_t(i) % w == rank() ? int64_t(i) * 1000 : -int64_t(i) - 5 - rank();
  comm().allReduceMax(std::span<int64_t>(biggest));
  // Rank i % W holds i * 1000 >= 0, every other rank something negative.
  for (size_t i = 0; i < biggest.size(); ++i)
    ASSERT_EQ(biggest[i], int64_t(i) * 1000) << "element " << i;
  // Empty spans are no-ops, and the communicator is still fine afterwards.
  comm().allReduceSum(std::span<int64_t>());
  comm().allReduceMax(std::span<int64_t>());
  int64_t one = 1;
  comm().allReduceSum(std::span<int64_t>(&one, 1));
  EXPECT_EQ(one, w);
}

TEST_F(NcclCommunicatorTest, BarrierAndTypedHelpers) {
  comm().barrier();
  comm().barrier();
  const std::vector<int32_t> mine(rank() + 1, 10 * rank());
  std::vector<size_t> counts;
  const auto all = allGatherValues<int32_t>(comm(), std::span<const int32_t>(mine), &counts);
  size_t at = 0;
  for (int r = 0; r < size(); ++r) {
    ASSERT_EQ(counts[r], static_cast<size_t>(r + 1));
    for (int i = 0; i <= r; ++i) EXPECT_EQ(all[at++], 10 * r);
  }
  EXPECT_EQ(allGatherScalarSum<int>(comm(), 2), 2 * size());
}

TEST_F(NcclCommunicatorTest, AllGatherDevice) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{4096}, size_t{(1 << 20) + 3}}) {
    const uint64_t round = 300 + bytes;
    SCOPED_TRACE(fmt::format("seed {} bytes {} rank {}/{}", kSeed, bytes, rank(), size()));
    const auto mine = pattern(round, rank(), bytes);
    DeviceBytes send(bytes), recv(bytes * size());
    send.upload(mine);
    comm().allGatherDevice(send.get(), recv.get(), bytes);
    auto all = recv.download();
    for (int r = 0; r < size(); ++r)
      EXPECT_EQ(firstMismatch(all.data() + r * bytes, round, r, bytes), -1) << "rank " << r;

    // In place: this rank's block already sits in the receive buffer.
    DeviceBytes inPlace(bytes * size());
    inPlace.upload(mine, rank() * bytes);
    comm().allGatherDevice(inPlace.get() + rank() * bytes, inPlace.get(), bytes);
    all = inPlace.download();
    for (int r = 0; r < size(); ++r)
      EXPECT_EQ(firstMismatch(all.data() + r * bytes, round, r, bytes), -1)
          << "in place, rank " << r;
  }
}

TEST_F(NcclCommunicatorTest, AllGatherVDeviceWithKnownCounts) {
  for (uint64_t round = 400; round < 403; ++round) {
    std::vector<size_t> counts(size());
    for (int r = 0; r < size(); ++r)
      counts[r] = round == 400 ? 1000 * r : round == 401 ? 0 : (r % 2 ? 77777 : 1);
    size_t total = 0;
    for (size_t c : counts) total += c;
    SCOPED_TRACE(fmt::format("seed {} round {} counts [{}] rank {}/{}", kSeed, round,
                             fmt::join(counts, ", "), rank(), size()));
    const auto mine = pattern(round, rank(), counts[rank()]);
    DeviceBytes send(mine.size()), recv(total);
    send.upload(mine);
    comm().allGatherVDevice(send.get(), recv.get(), std::span<const size_t>(counts));
    const auto all = recv.download();
    size_t at = 0;
    for (int r = 0; r < size(); ++r) {
      EXPECT_EQ(firstMismatch(all.data() + at, round, r, counts[r]), -1) << "rank " << r;
      at += counts[r];
    }
  }
}

TEST_F(NcclCommunicatorTest, AllGatherVDeviceExchangesSizesAndRejectsSmallBuffers) {
  const uint64_t round = 500;
  std::vector<size_t> sizes(size());
  size_t total = 0;
  for (int r = 0; r < size(); ++r) total += sizes[r] = r == 0 ? 0 : 4099 * r + 1;
  SCOPED_TRACE(
      fmt::format("seed {} sizes [{}] rank {}/{}", kSeed, fmt::join(sizes, ", "), rank(), size()));
  const auto mine = pattern(round, rank(), sizes[rank()]);
  DeviceBytes send(mine.size()), recv(total + 10);
  send.upload(mine);
  const auto counts = comm().allGatherVDevice(send.get(), mine.size(), recv.get(), total + 10);
  ASSERT_EQ(counts, sizes);
  const auto all = recv.download();
  size_t at = 0;
  for (int r = 0; r < size(); ++r) {
    EXPECT_EQ(firstMismatch(all.data() + at, round, r, sizes[r]), -1) << "rank " << r;
    at += sizes[r];
  }

  // Every rank sends 10 bytes and the last rank's buffer is one byte short: every rank refuses
  // alike, before any data moves, and the communicator stays usable.
  const int culprit = size() - 1;
  const size_t needed = 10 * size();
  const auto ten = pattern(round + 1, rank(), 10);
  DeviceBytes tenSend(ten.size()), tenRecv(needed);
  tenSend.upload(ten);
  try {
    comm().allGatherVDevice(tenSend.get(), ten.size(), tenRecv.get(),
                            rank() == culprit ? needed - 1 : needed);
    ADD_FAILURE() << "the receive buffer of rank " << culprit << " is too small";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("rank {}'s receive buffer", culprit)),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(comm().broken());
  comm().barrier();
}

TEST_F(NcclCommunicatorTest, WorksWithRunAgreed) {
  EXPECT_NO_THROW(runAgreed(comm(), "embed", [] {}));
  const int culprit = size() - 1;
  try {
    runAgreed(comm(), "load", [&] {
      if (rank() == culprit) throw UserError("corpus 'x' has dimension 768");
    });
    FAIL() << "every rank must throw";
  } catch (const JobFailure& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.exitCode(), 2);
    EXPECT_NE(message.find("corpus 'x' has dimension 768"), std::string::npos) << message;
    if (size() > 1) {
      EXPECT_NE(message.find(fmt::format("rank {}/{}", culprit, size())), std::string::npos)
          << message;
      EXPECT_NE(message.find("stage 'load'"), std::string::npos) << message;
    }
  }
  // An agreed failure is not a broken collective: the communicator goes on.
  EXPECT_FALSE(comm().broken());
  EXPECT_NO_THROW(runAgreed(comm(), "search", [] {}));
  int64_t one = 1;
  comm().allReduceSum(std::span<int64_t>(&one, 1));
  EXPECT_EQ(one, size());
}

// Holds the communicator's stream in a host function for a second, so that the collective
// queued behind it cannot finish in time, as with a peer that arrives late; this runs at W = 1
// on a one-GPU machine too. It ends by itself because ncclCommAbort waits for work already
// queued on the stream before it frees the communicator.
struct StreamStall {
  static constexpr double kSeconds = 1.0;
  static void CUDART_CB hold(void*) {
    std::this_thread::sleep_for(std::chrono::duration<double>(kSeconds));
  }
};

void expectTimeoutMessage(const std::string& message, const std::string& stage,
                          const std::string& collective, int rank, int size) {
  EXPECT_NE(message.find("stage '" + stage + "'"), std::string::npos) << message;
  EXPECT_NE(message.find(collective), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("rank {}/{}", rank, size)), std::string::npos) << message;
  EXPECT_NE(message.find("0.5 s"), std::string::npos) << message;
  EXPECT_NE(message.find("comm.timeout_s"), std::string::npos) << message;
}

TEST_F(NcclCommunicatorTest, StalledStreamBecomesATimeoutAndAFreshCommunicatorWorks) {
  comm().barrier();  // connections are up: the timeout below is the stream's, not the set-up's
  ASSERT_EQ(cudaLaunchHostFunc(comm().stream(), &StreamStall::hold, nullptr), cudaSuccess);
  comm().setTimeout(kShortTimeout);
  comm().setStage("search");
  const auto start = Clock::now();
  try {
    comm().barrier();
    ADD_FAILURE() << "the barrier cannot finish behind a stalled stream";
  } catch (const CollectiveTimeout& e) {
    const double waited = secondsSince(start);
    EXPECT_GE(waited, kShortTimeout);
    // ncclCommAbort waits for the stalled stream (measured on an H100: 1.50 s in all), so the
    // bound is the stall plus the usual slack, not the timeout plus the slack.
    EXPECT_LT(waited, StreamStall::kSeconds + kLatestThrow)
        << "ncclCommAbort or the polling took too long";
    expectTimeoutMessage(e.what(), "search", "barrier", rank(), size());
  }
  EXPECT_TRUE(comm().broken());
  try {
    comm().allReduceSum(std::span<int64_t>());
    ADD_FAILURE() << "an aborted communicator must refuse collectives";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("aborted"), std::string::npos) << e.what();
  }
  comm_.reset();  // destroying an aborted communicator must not wait or crash

  // The job can still talk: MPI, and a new NCCL communicator on the same GPUs.
  MPI_Barrier(MPI_COMM_WORLD);
  NcclCommunicator fresh(MPI_COMM_WORLD, placement_.device, kTimeout);
  int64_t one = 1;
  fresh.allReduceSum(std::span<int64_t>(&one, 1));
  EXPECT_EQ(one, fresh.size());
}

TEST_F(NcclCommunicatorTest, StuckPeerBecomesATimeoutNamingTheStage) {
  if (size() == 1) GTEST_SKIP() << "needs a peer: run with 2 or more ranks, one GPU each";
  comm().barrier();  // connections are up before anyone is late
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank() == 0) {
    comm().setTimeout(kShortTimeout);
    comm().setStage("gather-results");
    const auto start = Clock::now();
    try {
      comm().barrier();
      ADD_FAILURE() << "the barrier cannot complete while the peers sleep";
    } catch (const CollectiveTimeout& e) {
      EXPECT_LT(secondsSince(start), kLatestThrow);
      expectTimeoutMessage(e.what(), "gather-results", "barrier", 0, size());
    }
    EXPECT_TRUE(comm().broken());
  } else {
    // Two seconds late, after rank 0 gave up and aborted: this barrier may complete (rank 0's
    // contribution was already sent) or fail or time out, but it must return in bounded time.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    comm().setTimeout(3.0);
    const auto start = Clock::now();
    try {
      comm().barrier();
    } catch (const InternalError&) {
      EXPECT_TRUE(comm().broken());
    }
    EXPECT_LT(secondsSince(start), 3.0 + kLatestThrow);
  }
  // Every rank gives up on this communicator, so that no destructor waits for rank 0.
  comm().abortNccl();
  EXPECT_TRUE(comm().broken());
  comm_.reset();
  MPI_Barrier(MPI_COMM_WORLD);
  NcclCommunicator fresh(MPI_COMM_WORLD, placement_.device, kTimeout);
  fresh.barrier();
  int64_t one = 1;
  fresh.allReduceSum(std::span<int64_t>(&one, 1));
  EXPECT_EQ(one, fresh.size());
}

}  // namespace
}  // namespace eleanor

#endif  // ELEANOR_HAVE_NCCL
