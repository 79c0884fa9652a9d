#include "common/mpi_communicator.h"

#include "common/process_identity.h"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <array>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <numeric>
#include <thread>

namespace eleanor {

std::string mpiErrorString(int code) {
  std::array<char, MPI_MAX_ERROR_STRING> text{};
  int length = 0;
  if (MPI_Error_string(code, text.data(), &length) != MPI_SUCCESS)
    return fmt::format("MPI error {}", code);
  return std::string(text.data(), static_cast<size_t>(length));
}

namespace {
bool gAborted = false;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  int provided = 0;
  ELEANOR_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && !gAborted) MPI_Finalize();
}

std::string MpiSession::libraryVersion() {
  std::array<char, MPI_MAX_LIBRARY_VERSION_STRING> text{};
  int length = 0;
  MPI_Get_library_version(text.data(), &length);
  std::string version(text.data(), static_cast<size_t>(length));
  const size_t end = version.find_first_of("\n,");
  return version.substr(0, end);
}

MpiCommunicator::MpiCommunicator(double timeoutSeconds) : timeoutSeconds_(timeoutSeconds) {
  ELEANOR_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  ELEANOR_CHECK_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  ELEANOR_CHECK_MPI(MPI_Comm_rank(comm_, &rank_));
  ELEANOR_CHECK_MPI(MPI_Comm_size(comm_, &size_));
  MPI_Comm local = MPI_COMM_NULL;
  ELEANOR_CHECK_MPI(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
  ELEANOR_CHECK_MPI(MPI_Comm_rank(local, &localRank_));
  ELEANOR_CHECK_MPI(MPI_Comm_size(local, &localSize_));
  MPI_Comm_free(&local);
  ELEANOR_CHECK_MPI(MPI_Comm_dup(comm_, &arrivals_));
  ELEANOR_CHECK_MPI(MPI_Comm_set_errhandler(arrivals_, MPI_ERRORS_RETURN));
  constexpr int kHostChars = 64;
  std::array<char, kHostChars> mine{};
  const std::string host = hostName();
  host.copy(mine.data(), kHostChars - 1);
  std::vector<char> all(static_cast<size_t>(kHostChars) * size_);
  ELEANOR_CHECK_MPI(
      MPI_Allgather(mine.data(), kHostChars, MPI_CHAR, all.data(), kHostChars, MPI_CHAR, comm_));
  for (int r = 0; r < size_; ++r) hosts_.emplace_back(all.data() + r * kHostChars);
  if (rank_ == 0) lastArrival_.resize(size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || gAborted) return;
  if (broken_) {
    releaseSends();  // a timed-out collective may still be in flight on comm_: free nothing else
    return;
  }
  if (closeArrivals()) MPI_Comm_free(&arrivals_);
  MPI_Comm_free(&comm_);
}

bool MpiCommunicator::closeArrivals() {
  if (size_ == 1) return true;
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration<double>(timeoutSeconds_ > 0 ? timeoutSeconds_ : 60.0);
  if (rank_ != 0) {
    auto message = std::make_unique<Arrival>();
    message->sequence = sequence_;
    MPI_Request request;
    if (MPI_Isend(message.get(), sizeof(Arrival), MPI_BYTE, 0, kClosingTag, arrivals_, &request) ==
        MPI_SUCCESS)
      sends_.emplace_back(request, std::move(message));
  }
  while (true) {
    reapSends();
    if (rank_ == 0) drainArrivals();
    const bool closed = rank_ == 0 ? closedRanks_ == size_ - 1 : sends_.empty();
    if (closed) return true;
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // A rank that never said goodbye: keep the side communicator (a message landing on a freed
  // one would be handed to the next communicator given its context id), let go of the sends.
  releaseSends();
  return false;
}

void MpiCommunicator::reapSends() {
  std::erase_if(sends_, [](auto& send) {
    int done = 0;
    MPI_Test(&send.first, &done, MPI_STATUS_IGNORE);
    return done != 0;
  });
}

void MpiCommunicator::releaseSends() {
  reapSends();
  for (auto& [request, message] : sends_) MPI_Request_free(&request);  // MPI finishes them
}

void MpiCommunicator::announce() {
  ++sequence_;
  if (size_ == 1) return;
  auto message = std::make_unique<Arrival>();
  message->sequence = sequence_;
  stage().copy(message->stage, kStageChars - 1);
  if (rank_ == 0) {
    lastArrival_[0] = *message;
    return;
  }
  reapSends();  // then post this one
  MPI_Request request;
  ELEANOR_CHECK_MPI(
      MPI_Isend(message.get(), sizeof(Arrival), MPI_BYTE, 0, kArrivalTag, arrivals_, &request));
  sends_.emplace_back(request, std::move(message));
}

void MpiCommunicator::drainArrivals() {
  while (true) {
    int pending = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, arrivals_, &pending, &status) != MPI_SUCCESS ||
        !pending)
      return;
    Arrival message;
    MPI_Recv(&message, sizeof(Arrival), MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, arrivals_,
             MPI_STATUS_IGNORE);
    if (status.MPI_TAG == kClosingTag) {
      ++closedRanks_;
      continue;
    }
    if (message.sequence > lastArrival_[status.MPI_SOURCE].sequence)
      lastArrival_[status.MPI_SOURCE] = message;
  }
}

std::string MpiCommunicator::missingRanks(const char* collective) {
  drainArrivals();
  std::vector<std::string> missing;
  for (int r = 0; r < size_; ++r) {
    const Arrival& last = lastArrival_[r];
    if (last.sequence >= sequence_) continue;
    missing.push_back(fmt::format(
        "rank {}/{} ({}) never reached it{}", r, size_, hosts_[r],
        last.sequence ? fmt::format(" (last seen entering collective #{} in stage '{}')",
                                    last.sequence, last.stage)
                      : std::string(" (never seen in any collective)")));
  }
  if (missing.empty()) return "";
  return fmt::format("{} #{}: {}: it died or is stuck", collective, sequence_,
                     fmt::join(missing, "; "));
}

void MpiCommunicator::wait(MPI_Request& request, const char* collective) {
  using Clock = std::chrono::steady_clock;
  announce();
  const auto start = Clock::now();
  // Ranks other than 0 wait a little longer, so that rank 0, which can name the missing rank,
  // is the one that reports.
  constexpr double kGraceSeconds = 2.0;
  const auto limit =
      std::chrono::duration<double>(timeoutSeconds_ + (rank_ == 0 ? 0.0 : kGraceSeconds));
  auto pause = std::chrono::microseconds(20);
  while (true) {
    int done = 0;
    ELEANOR_CHECK_MPI(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (rank_ == 0 && size_ > 1) drainArrivals();
    if (timeoutSeconds_ > 0 && Clock::now() - start > limit) {
      broken_ = true;
      const std::string culprits = rank_ == 0 ? missingRanks(collective) : "";
      throw CollectiveTimeout(fmt::format(
          "{} in stage '{}' did not complete within {:g} s on {}: {} (raise comm.timeout_s if "
          "a stage legitimately takes longer)",
          collective, stage(), timeoutSeconds_, whereAmI(),
          culprits.empty() ? "another rank died or is stuck" : culprits));
    }
    // Spin for the first 200 us (small messages finish in tens of microseconds, and a sleep
    // costs more than that), then back off so waiting ranks leave the cores to busy ones.
    if (Clock::now() - start < std::chrono::microseconds(200)) continue;
    std::this_thread::sleep_for(pause);
    pause = std::min(std::chrono::microseconds(1000), pause + std::chrono::microseconds(20));
  }
}

std::vector<int> MpiCommunicator::displacements(std::span<const size_t> counts,
                                                std::vector<int>& intCounts,
                                                const char* collective) const {
  std::vector<int> offsets(counts.size());
  intCounts.resize(counts.size());
  size_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (total + counts[i] > static_cast<size_t>(INT_MAX)) {
      throw InternalError(fmt::format(
          "{} in stage '{}': {} bytes exceed MPI's 2 GiB count limit; lower job.batch_size",
          collective, stage(), total + counts[i]));
    }
    offsets[i] = static_cast<int>(total);
    intCounts[i] = static_cast<int>(counts[i]);
    total += counts[i];
  }
  return offsets;
}

void MpiCommunicator::allGather(const void* send, void* recv, size_t bytes) {
  if (bytes * static_cast<size_t>(size_) > static_cast<size_t>(INT_MAX))
    throw InternalError("allGather: message over 2 GiB");
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Iallgather(send, static_cast<int>(bytes), MPI_BYTE, recv,
                                   static_cast<int>(bytes), MPI_BYTE, comm_, &request));
  wait(request, "MPI_Iallgather");
}

void MpiCommunicator::allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                                 std::vector<size_t>& counts) {
  counts.assign(size_, 0);
  uint64_t mine = bytes;
  allGather(&mine, counts.data(), sizeof(uint64_t));
  std::vector<int> intCounts;
  const std::vector<int> offsets = displacements(counts, intCounts, "MPI_Iallgatherv");
  size_t total = 0;
  for (size_t c : counts) total += c;
  recv.resize(total);
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Iallgatherv(send, static_cast<int>(bytes), MPI_BYTE, recv.data(),
                                    intCounts.data(), offsets.data(), MPI_BYTE, comm_, &request));
  wait(request, "MPI_Iallgatherv");
}

void MpiCommunicator::gatherV(const void* send, size_t bytes, int root,
                              std::vector<std::byte>& recv, std::vector<size_t>& counts) {
  std::vector<size_t> allCounts(size_, 0);
  uint64_t mine = bytes;
  allGather(&mine, allCounts.data(), sizeof(uint64_t));
  std::vector<int> intCounts;
  const std::vector<int> offsets = displacements(allCounts, intCounts, "MPI_Igatherv");
  std::vector<std::byte> scratch;
  std::vector<std::byte>& target = rank_ == root ? recv : scratch;
  if (rank_ == root) {
    size_t total = 0;
    for (size_t c : allCounts) total += c;
    recv.resize(total);
    counts = allCounts;
  }
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Igatherv(send, static_cast<int>(bytes), MPI_BYTE, target.data(),
                                 intCounts.data(), offsets.data(), MPI_BYTE, root, comm_,
                                 &request));
  wait(request, "MPI_Igatherv");
}

void MpiCommunicator::allToAllV(const void* send, std::span<const size_t> sendCounts,
                                std::vector<std::byte>& recv, std::vector<size_t>& recvCounts) {
  if (sendCounts.size() != static_cast<size_t>(size_)) {
    throw InternalError(fmt::format("allToAllV in stage '{}': {} counts for {} ranks", stage(),
                                    sendCounts.size(), size_));
  }
  const std::vector<uint64_t> mine(sendCounts.begin(), sendCounts.end());
  std::vector<uint64_t> theirs(size_, 0);
  MPI_Request request;
  ELEANOR_CHECK_MPI(
      MPI_Ialltoall(mine.data(), 1, MPI_UINT64_T, theirs.data(), 1, MPI_UINT64_T, comm_, &request));
  wait(request, "MPI_Ialltoall");
  recvCounts.assign(theirs.begin(), theirs.end());
  std::vector<int> intSendCounts, intRecvCounts;
  const std::vector<int> sendOffsets = displacements(sendCounts, intSendCounts, "MPI_Ialltoallv");
  const std::vector<int> recvOffsets = displacements(recvCounts, intRecvCounts, "MPI_Ialltoallv");
  recv.resize(std::accumulate(recvCounts.begin(), recvCounts.end(), size_t{0}));
  ELEANOR_CHECK_MPI(MPI_Ialltoallv(send, intSendCounts.data(), sendOffsets.data(), MPI_BYTE,
                                   recv.data(), intRecvCounts.data(), recvOffsets.data(), MPI_BYTE,
                                   comm_, &request));
  wait(request, "MPI_Ialltoallv");
}

void MpiCommunicator::broadcast(void* data, size_t bytes, int root) {
  if (bytes > static_cast<size_t>(INT_MAX)) throw InternalError("broadcast: message over 2 GiB");
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Ibcast(data, static_cast<int>(bytes), MPI_BYTE, root, comm_, &request));
  wait(request, "MPI_Ibcast");
}

void MpiCommunicator::allReduceSum(std::span<int64_t> values) {
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                                   MPI_INT64_T, MPI_SUM, comm_, &request));
  wait(request, "MPI_Iallreduce");
}

void MpiCommunicator::allReduceSum(std::span<double> values) {
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                                   MPI_DOUBLE, MPI_SUM, comm_, &request));
  wait(request, "MPI_Iallreduce");
}

void MpiCommunicator::allReduceMax(std::span<int64_t> values) {
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                                   MPI_INT64_T, MPI_MAX, comm_, &request));
  wait(request, "MPI_Iallreduce");
}

void MpiCommunicator::barrier() {
  MPI_Request request;
  ELEANOR_CHECK_MPI(MPI_Ibarrier(comm_, &request));
  wait(request, "MPI_Ibarrier");
}

void MpiCommunicator::abort(int code) {
  gAborted = true;
  MPI_Abort(comm_ != MPI_COMM_NULL ? comm_ : MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace eleanor
