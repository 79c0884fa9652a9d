// MpiSession (MPI_Init_thread / MPI_Finalize, RAII) and MpiCommunicator (host-memory
// collectives over a duplicate of MPI_COMM_WORLD, each bounded by a timeout).
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/communicator.h"

#define ELEANOR_CHECK_MPI(call)                                                            \
  do {                                                                                     \
    const int eleanorMpiRc_ = (call);                                                      \
    if (eleanorMpiRc_ != MPI_SUCCESS)                                                      \
      ::eleanor::throwLibraryError("MPI", #call, ::eleanor::mpiErrorString(eleanorMpiRc_), \
                                   __FILE__, __LINE__);                                    \
  } while (0)

namespace eleanor {

std::string mpiErrorString(int code);

// Initialises MPI (MPI_THREAD_FUNNELED: only the main thread calls MPI) and finalises it on
// destruction, unless the job was aborted.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  // "Open MPI v4.1.4, ..." as MPI_Get_library_version reports it (first line).
  static std::string libraryVersion();
};

class MpiCommunicator : public Communicator {
 public:
  // Duplicates MPI_COMM_WORLD (errors return, not abort) and finds the ranks on this host.
  explicit MpiCommunicator(double timeoutSeconds);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int localRank() const { return localRank_; }
  int localSize() const { return localSize_; }
  std::string backend() const override { return "mpi"; }
  void setTimeout(double seconds) { timeoutSeconds_ = seconds; }

  void allGather(const void* send, void* recv, size_t bytes) override;
  void allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                  std::vector<size_t>& counts) override;
  void gatherV(const void* send, size_t bytes, int root, std::vector<std::byte>& recv,
               std::vector<size_t>& counts) override;
  void allToAllV(const void* send, std::span<const size_t> sendCounts, std::vector<std::byte>& recv,
                 std::vector<size_t>& recvCounts) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void allReduceSum(std::span<int64_t> values) override;
  void allReduceSum(std::span<double> values) override;
  void allReduceMax(std::span<int64_t> values) override;
  void barrier() override;
  [[noreturn]] void abort(int code) override;

 private:
  // Polls `request` until it completes or the timeout passes (then throws CollectiveTimeout).
  void wait(MPI_Request& request, const char* collective);
  // Arrivals: each rank tells rank 0 (on a side communicator) which collective it has
  // reached, so that when one never arrives rank 0 can name it, its host and its last stage.
  void announce();
  void drainArrivals();
  // Before the side communicator is freed, every rank sends rank 0 a closing arrival and rank 0
  // receives all of them: an arrival that lands after its communicator is gone is kept by Open
  // MPI for the next communicator that gets the same context id, where it takes the sequence
  // number of that one's first real message and hangs its first collective. False when a rank
  // did not close within the timeout (the side communicator is then kept, not freed).
  bool closeArrivals();
  void reapSends();     // forgets the arrival sends that have completed
  void releaseSends();  // ... and hands the others to MPI to finish (MPI_Request_free)
  std::string missingRanks(const char* collective);
  std::vector<int> displacements(std::span<const size_t> counts, std::vector<int>& intCounts,
                                 const char* collective) const;

  static constexpr int kStageChars = 40;
  static constexpr int kArrivalTag = 0;
  static constexpr int kClosingTag = 1;
  struct Arrival {
    int64_t sequence = 0;
    char stage[kStageChars] = {};
  };

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm arrivals_ = MPI_COMM_NULL;
  int64_t sequence_ = 0;              // collectives this rank has entered
  std::vector<Arrival> lastArrival_;  // rank 0: each rank's latest
  int closedRanks_ = 0;               // rank 0: closing arrivals received
  std::vector<std::string> hosts_;    // every rank's host, for messages
  std::vector<std::pair<MPI_Request, std::unique_ptr<Arrival>>> sends_;  // in flight
  // Set when a collective timed out: its request may still be in flight inside MPI, so the
  // communicator is never freed (freeing it under a live request crashes Open MPI).
  bool broken_ = false;
  int rank_ = 0;
  int size_ = 1;
  int localRank_ = 0;
  int localSize_ = 1;
  double timeoutSeconds_;
};

}  // namespace eleanor
