#include "common/nccl_communicator.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>
#include <thread>

#include "common/cuda_check.h"
#include "common/mpi_communicator.h"

namespace eleanor {

namespace {

using Clock = std::chrono::steady_clock;

// The smallest staging allocation: the reductions and size exchanges of a job are tiny, and
// growing from a page avoids a reallocation on almost every early call.
constexpr size_t kMinStagingBytes = size_t{64} << 10;

bool past(Clock::time_point start, double timeoutSeconds) {
  return timeoutSeconds > 0 && Clock::now() - start > std::chrono::duration<double>(timeoutSeconds);
}

// Spin briefly for latency, then back off to 1 ms so waiting ranks leave the cores to busy ones
// (the same policy as MpiCommunicator::wait).
class Backoff {
 public:
  void pause() {
    if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
    pause_ = std::min(std::chrono::microseconds(1000), pause_ + std::chrono::microseconds(20));
  }

 private:
  std::chrono::microseconds pause_{0};
};

// Makes the communicator's GPU current for one call and restores the caller's afterwards: other
// code in the process (critics placed on other GPUs) may switch devices between collectives.
class DeviceScope {
 public:
  explicit DeviceScope(int device) : device_(device) {
    ELEANOR_CHECK_CUDA(cudaGetDevice(&previous_));
    if (previous_ != device_) ELEANOR_CHECK_CUDA(cudaSetDevice(device_));
  }
  ~DeviceScope() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int device_;
  int previous_ = -1;
};

// ncclGroupStart/End that always ends: a group left open would swallow every later NCCL call of
// this thread, on any communicator, into it.
class NcclGroup {
 public:
  NcclGroup() { ELEANOR_CHECK_NCCL(ncclGroupStart()); }
  ~NcclGroup() {
    if (open_) ncclGroupEnd();
  }
  ncclResult_t end() {
    open_ = false;
    return ncclGroupEnd();
  }
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

 private:
  bool open_ = true;
};

// Polls an MPI request of the set-up (the id broadcast), bounded like every collective.
void waitMpi(MPI_Request& request, double timeoutSeconds, const char* what) {
  const auto start = Clock::now();
  Backoff backoff;
  while (true) {
    int done = 0;
    ELEANOR_CHECK_MPI(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (past(start, timeoutSeconds)) {
      throw CollectiveTimeout(fmt::format(
          "{} did not complete within {:g} s on {}: another rank died or is stuck before "
          "creating its NCCL communicator (raise comm.timeout_s if start-up legitimately takes "
          "longer)",
          what, timeoutSeconds, whereAmI()));
    }
    backoff.pause();
  }
}

std::vector<size_t> offsetsOf(std::span<const size_t> counts) {
  std::vector<size_t> offsets(counts.size());
  std::exclusive_scan(counts.begin(), counts.end(), offsets.begin(), size_t{0});
  return offsets;
}

size_t totalOf(std::span<const size_t> counts) {
  return std::accumulate(counts.begin(), counts.end(), size_t{0});
}

// What rank 0 broadcasts: the id, or that it could not make one (so the others stop too).
struct UniqueIdMessage {
  int32_t ok = 0;
  ncclUniqueId id{};
};

}  // namespace

NcclCommunicator::NcclCommunicator(MPI_Comm bootstrap, int cudaDevice, double timeoutSeconds)
    : bootstrap_(bootstrap), device_(cudaDevice), timeoutSeconds_(timeoutSeconds) {
  ELEANOR_CHECK_MPI(MPI_Comm_rank(bootstrap_, &rank_));
  ELEANOR_CHECK_MPI(MPI_Comm_size(bootstrap_, &size_));
  try {
    // Local set-up first, then agree on it: a rank without its GPU must stop every rank now,
    // not leave the others waiting in ncclCommInitRankConfig until the timeout.
    std::exception_ptr localFailure;
    try {
      int count = 0;
      ELEANOR_CHECK_CUDA(cudaGetDeviceCount(&count));
      if (device_ < 0 || device_ >= count) {
        throw UserError(fmt::format(
            "GPU {} does not exist on {}, which has {} GPU(s): check gpu.device_ids and the "
            "number of ranks per node (one rank per GPU)",
            device_, whereAmI(), count));
      }
      ELEANOR_CHECK_CUDA(cudaSetDevice(device_));
      ELEANOR_CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    } catch (const std::exception&) {
      localFailure = std::current_exception();
    }
    int firstFailing = localFailure ? rank_ : INT_MAX;
    MPI_Request request;
    ELEANOR_CHECK_MPI(
        MPI_Iallreduce(MPI_IN_PLACE, &firstFailing, 1, MPI_INT, MPI_MIN, bootstrap_, &request));
    waitMpi(request, timeoutSeconds_, "MPI_Iallreduce of the GPU set-up before NCCL init");
    if (localFailure) std::rethrow_exception(localFailure);
    if (firstFailing != INT_MAX) {
      throw InternalError(fmt::format(
          "no NCCL communicator on {}: rank {} could not set up its GPU (its own error says why)",
          whereAmI(), firstFailing));
    }

    UniqueIdMessage message;
    std::string idError;
    if (rank_ == 0) {
      const ncclResult_t rc = ncclGetUniqueId(&message.id);
      message.ok = rc == ncclSuccess;
      if (!message.ok) idError = ncclErrorText(rc);
    }
    ELEANOR_CHECK_MPI(MPI_Ibcast(&message, sizeof(message), MPI_BYTE, 0, bootstrap_, &request));
    waitMpi(request, timeoutSeconds_, "MPI_Ibcast of the NCCL unique id");
    if (!message.ok) {
      if (rank_ == 0)
        throwLibraryError("NCCL", "ncclGetUniqueId(&message.id)", idError, __FILE__, __LINE__);
      throw InternalError(fmt::format(
          "no NCCL communicator on {}: rank 0 could not create the NCCL unique id (its own "
          "error says why)",
          whereAmI()));
    }

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // init and every collective return at once; we poll and can abort
    ELEANOR_CHECK_NCCL(ncclCommInitRankConfig(&comm_, size_, message.id, rank_, &config));
    const auto start = Clock::now();
    Backoff backoff;
    const char* what = "NCCL communicator creation (ncclCommInitRankConfig)";
    while (true) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
      if (rc != ncclSuccess) state = rc;
      if (state == ncclSuccess) break;
      if (state != ncclInProgress) {
        const std::string hint =
            state == ncclInvalidUsage
                ? " (two ranks on one GPU? NCCL needs one GPU per rank: check gpu.device_ids "
                  "and the ranks per node)"
                : "";
        throw InternalError(fmt::format("{} failed on {} (GPU {}, {} ranks): {}{}", what,
                                        whereAmI(), device_, size_, ncclErrorText(state, comm_),
                                        hint));
      }
      if (past(start, timeoutSeconds_)) {
        throw CollectiveTimeout(fmt::format(
            "{} did not complete within {:g} s on {} (GPU {}): another rank died, is stuck or "
            "never joined (raise comm.timeout_s if start-up legitimately takes longer)",
            what, timeoutSeconds_, whereAmI(), device_));
      }
      backoff.pause();
    }
  } catch (...) {
    releaseAll();
    throw;
  }
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr) {
    int previous = -1;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    // Finalize flushes this rank's outstanding work and reaches quiescence with the peers; a
    // peer that is gone would make it wait, so it is bounded and falls back to abort.
    ncclResult_t state = ncclCommFinalize(comm_);
    if (state == ncclSuccess || state == ncclInProgress) {
      const auto start = Clock::now();
      Backoff backoff;
      while (true) {
        const ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
        if (rc != ncclSuccess) state = rc;
        if (state != ncclInProgress || past(start, timeoutSeconds_)) break;
        backoff.pause();
      }
    }
    if (state == ncclSuccess) {
      ncclCommDestroy(comm_);
    } else {
      spdlog::warn("NCCL communicator on GPU {} did not finalise cleanly ({}); aborting it",
                   device_, ncclGetErrorString(state));
      ncclCommAbort(comm_);
    }
    comm_ = nullptr;
    if (previous >= 0) cudaSetDevice(previous);
  }
  releaseAll();
}

void NcclCommunicator::releaseAll() noexcept {
  int previous = -1;
  cudaGetDevice(&previous);
  cudaSetDevice(device_);
  // The communicator goes first: its kernels may still reference the staging buffer.
  if (comm_ != nullptr) ncclCommAbort(comm_);
  comm_ = nullptr;
  if (staging_ != nullptr) cudaFree(staging_);
  staging_ = nullptr;
  stagingBytes_ = 0;
  if (pinned_ != nullptr) cudaFreeHost(pinned_);
  pinned_ = nullptr;
  pinnedBytes_ = 0;
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  stream_ = nullptr;
  if (previous >= 0) cudaSetDevice(previous);
}

// ---- waiting, failing, aborting ----

bool NcclCommunicator::pastDeadline(Clock::time_point start) const {
  return past(start, timeoutSeconds_);
}

void NcclCommunicator::requireHealthy(const char* collective) const {
  if (comm_ != nullptr) return;
  throw InternalError(fmt::format(
      "{} in stage '{}' on {}: the NCCL communicator was aborted earlier and cannot run "
      "collectives any more (it was aborted because: {})",
      collective, stage(), whereAmI(), abortReason_));
}

template <class Body>
void NcclCommunicator::guarded(const char* collective, Body&& body) {
  requireHealthy(collective);
  DeviceScope scope(device_);
  try {
    body(Clock::now());
  } catch (const std::exception& e) {
    // Peers may be inside this collective: only an abort leaves the communicator in a known state.
    abortWith(e.what());
    throw;
  }
}

void NcclCommunicator::awaitEnqueue(const char* collective, Clock::time_point start) {
  Backoff backoff;
  while (true) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
    if (rc != ncclSuccess) state = rc;
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) failNccl(collective, state);
    if (pastDeadline(start)) timeOut(collective);
    backoff.pause();
  }
}

void NcclCommunicator::awaitStream(const char* collective, Clock::time_point start) {
  Backoff backoff;
  while (true) {
    const cudaError_t query = cudaStreamQuery(stream_);
    if (query == cudaSuccess) return;
    if (query != cudaErrorNotReady) failCuda(collective, query);
    ncclResult_t state = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
    if (rc != ncclSuccess) state = rc;
    if (state != ncclSuccess && state != ncclInProgress) failNccl(collective, state);
    if (pastDeadline(start)) timeOut(collective);
    backoff.pause();
  }
}

void NcclCommunicator::failNccl(const char* collective, ncclResult_t state) {
  const std::string message =
      fmt::format("NCCL {} in stage '{}' failed on {} (GPU {}): {}", collective, stage(),
                  whereAmI(), device_, ncclErrorText(state, comm_));
  abortWith(message);
  throw InternalError(message);
}

void NcclCommunicator::failCuda(const char* collective, cudaError_t error) {
  const std::string message =
      fmt::format("{} in stage '{}' failed on {} (GPU {}): CUDA {}", collective, stage(),
                  whereAmI(), device_, cudaErrorText(error));
  abortWith(message);
  throw InternalError(message);
}

void NcclCommunicator::timeOut(const char* collective) {
  const std::string message = fmt::format(
      "{} in stage '{}' did not complete within {:g} s on {} (GPU {}): another rank died or is "
      "stuck (raise comm.timeout_s if a stage legitimately takes longer)",
      collective, stage(), timeoutSeconds_, whereAmI(), device_);
  abortWith(message);
  throw CollectiveTimeout(message);
}

void NcclCommunicator::abortWith(const std::string& reason) {
  if (comm_ != nullptr) {
    // Sets NCCL's abort flag, so kernels spinning on a dead peer return and the stream drains.
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  if (abortReason_.empty()) abortReason_ = reason;
}

void NcclCommunicator::abortNccl() {
  abortWith("abortNccl() was called on this rank");
}

void NcclCommunicator::abort(int code) {
  if (comm_ != nullptr) ncclCommAbort(comm_);
  comm_ = nullptr;
  MPI_Abort(bootstrap_, code);
  std::_Exit(code);
}

// ---- staging ----

void NcclCommunicator::reserveDevice(size_t bytes) {
  if (bytes <= stagingBytes_) return;
  const size_t capacity = std::max(std::bit_ceil(bytes), kMinStagingBytes);
  if (staging_ != nullptr) ELEANOR_CHECK_CUDA(cudaFree(staging_));
  staging_ = nullptr;
  stagingBytes_ = 0;
  void* memory = nullptr;
  ELEANOR_CHECK_CUDA(cudaMalloc(&memory, capacity));
  staging_ = static_cast<char*>(memory);
  stagingBytes_ = capacity;
}

void NcclCommunicator::reservePinned(size_t bytes) {
  if (bytes <= pinnedBytes_) return;
  const size_t capacity = std::max(std::bit_ceil(bytes), kMinStagingBytes);
  if (pinned_ != nullptr) ELEANOR_CHECK_CUDA(cudaFreeHost(pinned_));
  pinned_ = nullptr;
  pinnedBytes_ = 0;
  void* memory = nullptr;
  ELEANOR_CHECK_CUDA(cudaMallocHost(&memory, capacity));
  pinned_ = static_cast<char*>(memory);
  pinnedBytes_ = capacity;
}

// ---- device collectives ----

void NcclCommunicator::allGatherDevice(const void* sendDev, void* recvDev, size_t bytes) {
  const char* collective = "allGatherDevice (ncclAllGather)";
  guarded(collective, [&](Clock::time_point start) {
    if (bytes == 0) return;
    ELEANOR_CHECK_NCCL(ncclAllGather(sendDev, recvDev, bytes, ncclChar, comm_, stream_));
    awaitEnqueue(collective, start);
    awaitStream(collective, start);
  });
}

// All-gather of unequal blocks as one ncclBroadcast per rank with data, in one group. Every rank
// receives exactly the other ranks' bytes and writes them straight to their final place. The
// alternative, a padded ncclAllGather, moves W * max(count) bytes instead of sum(count) and
// needs a compaction pass; the job's blocks are often very unequal (a last short batch, ranks
// with no cases left), so padding would waste most of the traffic. NCCL launches the group's
// broadcasts together; blocks of 0 bytes are skipped on every rank alike (counts agree).
void NcclCommunicator::groupedBroadcasts(const void* sendDev, char* recvDev,
                                         std::span<const size_t> counts) {
  NcclGroup group;
  size_t offset = 0;
  for (int root = 0; root < size_; ++root) {
    const size_t count = counts[root];
    if (count == 0) continue;
    // The root's send buffer is only read on the root; elsewhere pass the receive block.
    const void* from = root == rank_ ? sendDev : recvDev + offset;
    ELEANOR_CHECK_NCCL(
        ncclBroadcast(from, recvDev + offset, count, ncclChar, root, comm_, stream_));
    offset += count;
  }
  ELEANOR_CHECK_NCCL(group.end());
}

void NcclCommunicator::allGatherVDevice(const void* sendDev, void* recvDev,
                                        std::span<const size_t> counts) {
  const char* collective = "allGatherVDevice (grouped ncclBroadcast)";
  if (counts.size() != static_cast<size_t>(size_)) {
    throw InternalError(fmt::format("{} on {}: {} counts for {} ranks", collective, whereAmI(),
                                    counts.size(), size_));
  }
  guarded(collective, [&](Clock::time_point start) {
    if (totalOf(counts) == 0) return;
    groupedBroadcasts(sendDev, static_cast<char*>(recvDev), counts);
    awaitEnqueue(collective, start);
    awaitStream(collective, start);
  });
}

std::vector<size_t> NcclCommunicator::allGatherVDevice(const void* sendDev, size_t bytes,
                                                       void* recvDev, size_t recvCapacity) {
  // Each rank's size and capacity, so that every rank takes the same decision on overflow.
  std::vector<uint64_t> pairs(2 * static_cast<size_t>(size_));
  guarded("allGatherVDevice (sizes, ncclAllGather)", [&](Clock::time_point start) {
    const uint64_t mine[2] = {bytes, recvCapacity};
    allGatherStaged(mine, pairs.data(), sizeof(mine), "allGatherVDevice (sizes, ncclAllGather)",
                    start);
  });
  std::vector<size_t> counts(size_);
  uint64_t smallest = UINT64_MAX;
  int smallestRank = 0;
  for (int r = 0; r < size_; ++r) {
    counts[r] = pairs[2 * r];
    if (pairs[2 * r + 1] < smallest) {
      smallest = pairs[2 * r + 1];
      smallestRank = r;
    }
  }
  const size_t total = totalOf(counts);
  if (total > smallest) {
    throw InternalError(fmt::format(
        "allGatherVDevice in stage '{}' on {}: the ranks send {} bytes in all, but rank {}'s "
        "receive buffer holds {} bytes",
        stage(), whereAmI(), total, smallestRank, smallest));
  }
  allGatherVDevice(sendDev, recvDev, counts);
  return counts;
}

// ---- host collectives, staged ----

void NcclCommunicator::allGatherStaged(const void* send, void* recv, size_t bytes,
                                       const char* collective, Clock::time_point start) {
  if (bytes == 0) return;
  const size_t total = bytes * static_cast<size_t>(size_);
  reserveDevice(total);
  reservePinned(total);
  char* mine = staging_ + static_cast<size_t>(rank_) * bytes;
  std::memcpy(pinned_, send, bytes);
  ELEANOR_CHECK_CUDA(cudaMemcpyAsync(mine, pinned_, bytes, cudaMemcpyHostToDevice, stream_));
  ELEANOR_CHECK_NCCL(ncclAllGather(mine, staging_, bytes, ncclChar, comm_, stream_));
  // Non-blocking NCCL may return before its kernel is on the stream: a copy queued now could
  // run before it.
  awaitEnqueue(collective, start);
  ELEANOR_CHECK_CUDA(cudaMemcpyAsync(pinned_, staging_, total, cudaMemcpyDeviceToHost, stream_));
  awaitStream(collective, start);
  std::memcpy(recv, pinned_, total);
}

std::vector<size_t> NcclCommunicator::exchangeCounts(size_t bytes, const char* collective,
                                                     Clock::time_point start) {
  std::vector<uint64_t> counts(size_);
  const uint64_t mine = bytes;
  allGatherStaged(&mine, counts.data(), sizeof(mine), collective, start);
  return std::vector<size_t>(counts.begin(), counts.end());
}

void NcclCommunicator::allGather(const void* send, void* recv, size_t bytes) {
  const char* collective = "allGather (ncclAllGather)";
  guarded(collective,
          [&](Clock::time_point start) { allGatherStaged(send, recv, bytes, collective, start); });
}

void NcclCommunicator::allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                                  std::vector<size_t>& counts) {
  guarded("allGatherV", [&](Clock::time_point start) {
    counts = exchangeCounts(bytes, "allGatherV (sizes, ncclAllGather)", start);
    const size_t total = totalOf(counts);
    recv.resize(total);
    if (total == 0) return;
    const char* collective = "allGatherV (grouped ncclBroadcast)";
    reserveDevice(total);
    reservePinned(total);
    // Staged straight into this rank's block: the broadcast from here is then in place.
    char* mine = staging_ + offsetsOf(counts)[rank_];
    if (bytes > 0) {
      std::memcpy(pinned_, send, bytes);
      ELEANOR_CHECK_CUDA(cudaMemcpyAsync(mine, pinned_, bytes, cudaMemcpyHostToDevice, stream_));
    }
    groupedBroadcasts(mine, staging_, counts);
    awaitEnqueue(collective, start);
    ELEANOR_CHECK_CUDA(cudaMemcpyAsync(pinned_, staging_, total, cudaMemcpyDeviceToHost, stream_));
    awaitStream(collective, start);
    std::memcpy(recv.data(), pinned_, total);
  });
}

// NCCL has no gatherv; point-to-point sends to the root carry each block once, over the links to
// the root only, where an all-gather would also ship every block to every other rank.
void NcclCommunicator::gatherV(const void* send, size_t bytes, int root,
                               std::vector<std::byte>& recv, std::vector<size_t>& counts) {
  if (root < 0 || root >= size_) {
    throw InternalError(
        fmt::format("gatherV on {}: root {} is not a rank of {}", whereAmI(), root, size_));
  }
  guarded("gatherV", [&](Clock::time_point start) {
    const std::vector<size_t> all = exchangeCounts(bytes, "gatherV (sizes, ncclAllGather)", start);
    const char* collective = "gatherV (ncclSend/ncclRecv)";
    if (rank_ != root) {
      if (bytes == 0) return;
      reserveDevice(bytes);
      reservePinned(bytes);
      std::memcpy(pinned_, send, bytes);
      ELEANOR_CHECK_CUDA(
          cudaMemcpyAsync(staging_, pinned_, bytes, cudaMemcpyHostToDevice, stream_));
      ELEANOR_CHECK_NCCL(ncclSend(staging_, bytes, ncclChar, root, comm_, stream_));
      awaitEnqueue(collective, start);
      awaitStream(collective, start);
      return;
    }
    const std::vector<size_t> offsets = offsetsOf(all);
    const size_t total = totalOf(all);
    counts = all;
    recv.resize(total);
    if (total > bytes) {  // some other rank sends something
      reserveDevice(total);
      reservePinned(total);
      {
        NcclGroup group;
        for (int r = 0; r < size_; ++r) {
          if (r == root || all[r] == 0) continue;
          ELEANOR_CHECK_NCCL(ncclRecv(staging_ + offsets[r], all[r], ncclChar, r, comm_, stream_));
        }
        ELEANOR_CHECK_NCCL(group.end());
      }
      awaitEnqueue(collective, start);
      ELEANOR_CHECK_CUDA(
          cudaMemcpyAsync(pinned_, staging_, total, cudaMemcpyDeviceToHost, stream_));
      awaitStream(collective, start);
      std::memcpy(recv.data(), pinned_, total);
    }
    if (bytes > 0) std::memcpy(recv.data() + offsets[root], send, bytes);
  });
}

// NCCL has no alltoallv: point-to-point pairs in one group. The staging buffer holds what this
// rank sends (all blocks, in rank order) followed by what it receives.
void NcclCommunicator::allToAllV(const void* send, std::span<const size_t> sendCounts,
                                 std::vector<std::byte>& recv, std::vector<size_t>& recvCounts) {
  if (sendCounts.size() != static_cast<size_t>(size_)) {
    throw InternalError(fmt::format("allToAllV on {}: {} counts for {} ranks", whereAmI(),
                                    sendCounts.size(), size_));
  }
  guarded("allToAllV", [&](Clock::time_point start) {
    const size_t world = static_cast<size_t>(size_);
    std::vector<uint64_t> matrix(world * world);  // matrix[i * W + j]: bytes rank i sends rank j
    const std::vector<uint64_t> mine(sendCounts.begin(), sendCounts.end());
    allGatherStaged(mine.data(), matrix.data(), world * sizeof(uint64_t),
                    "allToAllV (sizes, ncclAllGather)", start);
    recvCounts.resize(world);
    for (size_t i = 0; i < world; ++i) recvCounts[i] = matrix[i * world + rank_];
    const std::vector<size_t> sendOffsets = offsetsOf(sendCounts);
    const std::vector<size_t> recvOffsets = offsetsOf(recvCounts);
    const size_t sendTotal = totalOf(sendCounts), recvTotal = totalOf(recvCounts);
    recv.resize(recvTotal);
    const size_t self = sendCounts[rank_];
    if (sendTotal > self || recvTotal > self) {  // some block crosses to or from a peer
      const char* collective = "allToAllV (ncclSend/ncclRecv)";
      reserveDevice(sendTotal + recvTotal);
      reservePinned(std::max(sendTotal, recvTotal));
      char* sendDev = staging_;
      char* recvDev = staging_ + sendTotal;
      if (sendTotal > 0) {
        std::memcpy(pinned_, send, sendTotal);
        ELEANOR_CHECK_CUDA(
            cudaMemcpyAsync(sendDev, pinned_, sendTotal, cudaMemcpyHostToDevice, stream_));
      }
      {
        NcclGroup group;
        for (int r = 0; r < size_; ++r) {
          if (r == rank_) continue;
          if (sendCounts[r] > 0) {
            ELEANOR_CHECK_NCCL(
                ncclSend(sendDev + sendOffsets[r], sendCounts[r], ncclChar, r, comm_, stream_));
          }
          if (recvCounts[r] > 0) {
            ELEANOR_CHECK_NCCL(
                ncclRecv(recvDev + recvOffsets[r], recvCounts[r], ncclChar, r, comm_, stream_));
          }
        }
        ELEANOR_CHECK_NCCL(group.end());
      }
      awaitEnqueue(collective, start);
      // The pinned buffer is reused for the way back once the send copy has run (stream order).
      if (recvTotal > 0) {
        ELEANOR_CHECK_CUDA(
            cudaMemcpyAsync(pinned_, recvDev, recvTotal, cudaMemcpyDeviceToHost, stream_));
      }
      awaitStream(collective, start);
      if (recvTotal > 0) std::memcpy(recv.data(), pinned_, recvTotal);
    }
    if (self > 0) {
      std::memcpy(recv.data() + recvOffsets[rank_],
                  static_cast<const char*>(send) + sendOffsets[rank_], self);
    }
  });
}

void NcclCommunicator::broadcast(void* data, size_t bytes, int root) {
  if (root < 0 || root >= size_) {
    throw InternalError(
        fmt::format("broadcast on {}: root {} is not a rank of {}", whereAmI(), root, size_));
  }
  const char* collective = "broadcast (ncclBroadcast)";
  guarded(collective, [&](Clock::time_point start) {
    if (bytes == 0) return;
    reserveDevice(bytes);
    reservePinned(bytes);
    if (rank_ == root) {
      std::memcpy(pinned_, data, bytes);
      ELEANOR_CHECK_CUDA(
          cudaMemcpyAsync(staging_, pinned_, bytes, cudaMemcpyHostToDevice, stream_));
    }
    ELEANOR_CHECK_NCCL(ncclBroadcast(staging_, staging_, bytes, ncclChar, root, comm_, stream_));
    awaitEnqueue(collective, start);
    if (rank_ != root) {
      ELEANOR_CHECK_CUDA(
          cudaMemcpyAsync(pinned_, staging_, bytes, cudaMemcpyDeviceToHost, stream_));
    }
    awaitStream(collective, start);
    if (rank_ != root) std::memcpy(data, pinned_, bytes);
  });
}

template <class T>
void NcclCommunicator::allReduceStaged(std::span<T> values, ncclDataType_t type, ncclRedOp_t op,
                                       const char* collective) {
  guarded(collective, [&](Clock::time_point start) {
    if (values.empty()) return;
    const size_t bytes = values.size_bytes();
    reserveDevice(bytes);
    reservePinned(bytes);
    std::memcpy(pinned_, values.data(), bytes);
    ELEANOR_CHECK_CUDA(cudaMemcpyAsync(staging_, pinned_, bytes, cudaMemcpyHostToDevice, stream_));
    ELEANOR_CHECK_NCCL(ncclAllReduce(staging_, staging_, values.size(), type, op, comm_, stream_));
    awaitEnqueue(collective, start);
    ELEANOR_CHECK_CUDA(cudaMemcpyAsync(pinned_, staging_, bytes, cudaMemcpyDeviceToHost, stream_));
    awaitStream(collective, start);
    std::memcpy(values.data(), pinned_, bytes);
  });
}

void NcclCommunicator::allReduceSum(std::span<int64_t> values) {
  allReduceStaged(values, ncclInt64, ncclSum, "allReduceSum (ncclAllReduce)");
}

void NcclCommunicator::allReduceSum(std::span<double> values) {
  allReduceStaged(values, ncclFloat64, ncclSum, "allReduceSum (ncclAllReduce)");
}

void NcclCommunicator::allReduceMax(std::span<int64_t> values) {
  allReduceStaged(values, ncclInt64, ncclMax, "allReduceMax (ncclAllReduce)");
}

// NCCL has no barrier: a one-byte all-reduce completes on a rank only after every rank joined.
void NcclCommunicator::barrier() {
  const char* collective = "barrier (ncclAllReduce)";
  guarded(collective, [&](Clock::time_point start) {
    reserveDevice(1);
    ELEANOR_CHECK_CUDA(cudaMemsetAsync(staging_, 0, 1, stream_));
    ELEANOR_CHECK_NCCL(ncclAllReduce(staging_, staging_, 1, ncclUint8, ncclMax, comm_, stream_));
    awaitEnqueue(collective, start);
    awaitStream(collective, start);
  });
}

}  // namespace eleanor
