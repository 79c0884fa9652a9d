// NcclCommunicator: the Communicator over NCCL, one rank per GPU. The device-pointer collectives
// are the point (queries and top-k lists move GPU to GPU); the host-memory interface is staged
// through a device buffer so the job pipeline can use either backend unchanged.
// The NCCL communicator is non-blocking (config.blocking = 0), so initialisation and every
// collective are polled and bounded by the timeout: a dead or stuck peer becomes a
// CollectiveTimeout naming this rank, the collective and the stage, never a hang. Any failure
// inside a collective aborts the NCCL communicator (ncclCommAbort); later collectives throw.
// Not thread-safe: one thread drives it, like MpiCommunicator.
#pragma once

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "common/communicator.h"

namespace eleanor {

class NcclCommunicator : public Communicator {
 public:
  // Collective over `bootstrap` (MPI_COMM_WORLD in the job): every rank must call. Each rank makes
  // `cudaDevice` current on this thread and creates its own non-blocking stream; rank 0 makes the
  // NCCL unique id and broadcasts it over MPI; ranks and size are those of `bootstrap`.
  // One rank per GPU: NCCL refuses two ranks of one communicator on the same device.
  // timeoutSeconds bounds the join and every collective (<= 0: wait forever).
  NcclCommunicator(MPI_Comm bootstrap, int cudaDevice, double timeoutSeconds);
  // Healthy: ncclCommFinalize (bounded by the timeout), then ncclCommDestroy; broken or slow to
  // finalise: ncclCommAbort. Then frees the staging buffers and the stream. Never throws.
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  int device() const { return device_; }
  // The stream every collective runs on. Device collectives are ordered after work the caller
  // queued on it; work on other streams must be finished (or waited for) by the caller.
  cudaStream_t stream() const { return stream_; }
  void setTimeout(double seconds) { timeoutSeconds_ = seconds; }
  double timeout() const { return timeoutSeconds_; }
  // True once a failure, a timeout or abortNccl() aborted the NCCL communicator.
  bool broken() const { return comm_ == nullptr; }

  // ---- device memory: pointers on device(); each call returns when the result is in place ----

  // Collective: each rank sends `bytes` from sendDev; recvDev gets size() * bytes, rank i's block
  // at offset i * bytes. sendDev may be recvDev + rank() * bytes (in place).
  void allGatherDevice(const void* sendDev, void* recvDev, size_t bytes);
  // Collective: counts[i] = rank i's bytes, the same vector on every rank (the caller knows it:
  // it had to size recvDev). sendDev holds counts[rank()] bytes; recvDev gets sum(counts), the
  // ranks' blocks in rank order. One grouped ncclBroadcast per rank with data: no padding.
  void allGatherVDevice(const void* sendDev, void* recvDev, std::span<const size_t> counts);
  // Collective: as above, but exchanges the sizes first and returns them. recvDev holds
  // recvCapacity bytes; if the total exceeds it, every rank throws InternalError (they all see
  // the same sizes) before any data moves, and the communicator stays usable.
  std::vector<size_t> allGatherVDevice(const void* sendDev, size_t bytes, void* recvDev,
                                       size_t recvCapacity);

  // ---- host memory (Communicator): staged through a grow-only device and pinned buffer ----

  void allGather(const void* send, void* recv, size_t bytes) override;
  void allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                  std::vector<size_t>& counts) override;
  // Grouped ncclSend to the root / ncclRecv from every rank at the root: only the root's link
  // carries data, each block once.
  void gatherV(const void* send, size_t bytes, int root, std::vector<std::byte>& recv,
               std::vector<size_t>& counts) override;
  // Every rank's counts (an all-gather of W x W sizes), then one group of ncclSend/ncclRecv
  // per peer with data; this rank's own block is copied on the host.
  void allToAllV(const void* send, std::span<const size_t> sendCounts, std::vector<std::byte>& recv,
                 std::vector<size_t>& recvCounts) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void allReduceSum(std::span<int64_t> values) override;
  void allReduceSum(std::span<double> values) override;
  void allReduceMax(std::span<int64_t> values) override;
  void barrier() override;

  // Not collective: ncclCommAbort on this rank only; the process and MPI go on, and every later
  // collective throws. For a rank that learned another way (a peer's timeout, an agreed failure)
  // that the NCCL communicator can no longer be trusted, so that its destructor does not wait.
  void abortNccl();
  // Ends every rank of the job: ncclCommAbort, then MPI_Abort. Any rank may call it alone.
  [[noreturn]] void abort(int code) override;

 private:
  using Clock = std::chrono::steady_clock;

  // Runs one collective: checks the communicator is healthy, makes device_ current, and aborts
  // the NCCL communicator if `body` throws (peers may be inside the collective).
  template <class Body>
  void guarded(const char* collective, Body&& body);
  void requireHealthy(const char* collective) const;
  // Polls until NCCL has put the enqueued work on the stream (non-blocking mode returns before).
  void awaitEnqueue(const char* collective, Clock::time_point start);
  // Polls until the stream is idle, watching NCCL's asynchronous error and the clock.
  void awaitStream(const char* collective, Clock::time_point start);
  bool pastDeadline(Clock::time_point start) const;
  [[noreturn]] void failNccl(const char* collective, ncclResult_t state);
  [[noreturn]] void failCuda(const char* collective, cudaError_t error);
  [[noreturn]] void timeOut(const char* collective);
  void abortWith(const std::string& reason);

  void allGatherStaged(const void* send, void* recv, size_t bytes, const char* collective,
                       Clock::time_point start);
  std::vector<size_t> exchangeCounts(size_t bytes, const char* collective, Clock::time_point start);
  void groupedBroadcasts(const void* sendDev, char* recvDev, std::span<const size_t> counts);
  template <class T>
  void allReduceStaged(std::span<T> values, ncclDataType_t type, ncclRedOp_t op,
                       const char* collective);
  void reserveDevice(size_t bytes);
  void reservePinned(size_t bytes);
  void releaseAll() noexcept;

  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  MPI_Comm bootstrap_;
  int device_;
  int rank_ = 0;
  int size_ = 1;
  double timeoutSeconds_;
  // Why the NCCL communicator was aborted, for the message of every later collective.
  std::string abortReason_;
  // Grow-only staging for the host interface: data goes host -> pinned -> device, the NCCL op
  // runs in place on the device buffer, and comes back device -> pinned -> host. Pinned memory
  // keeps every copy asynchronous, so a stuck collective cannot block the host in a copy.
  char* staging_ = nullptr;
  size_t stagingBytes_ = 0;
  char* pinned_ = nullptr;
  size_t pinnedBytes_ = 0;
};

}  // namespace eleanor
