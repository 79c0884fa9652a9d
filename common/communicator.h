// Communicator: the collectives the job needs, over host memory. Implementations: MPI (any W,
// CPU runs and tests) and local (one process, no MPI). Every collective is bounded by the
// timeout given at construction: a dead or stuck peer becomes a CollectiveTimeout naming this
// rank, the collective and the stage, never a hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/crash_report.h"
#include "common/error.h"

namespace eleanor {

class CollectiveTimeout : public InternalError {
 public:
  using InternalError::InternalError;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // The stage named in timeout and failure messages: read, embed, critics, search, gather...
  void setStage(std::string stage) {
    stage_ = std::move(stage);
    setCrashStage(stage_.c_str());
  }
  const std::string& stage() const { return stage_; }

  // Collective: every rank must call. Each rank sends `bytes` (the same on every rank);
  // `recv` gets size() * bytes, rank i's block at offset i * bytes.
  virtual void allGather(const void* send, void* recv, size_t bytes) = 0;
  // Collective: each rank sends its own number of bytes; `recv` is resized to the total,
  // ranks' blocks in rank order; counts[i] = rank i's bytes.
  virtual void allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                          std::vector<size_t>& counts) = 0;
  // Collective: like allGatherV, but only `root` receives (recv/counts untouched elsewhere).
  virtual void gatherV(const void* send, size_t bytes, int root, std::vector<std::byte>& recv,
                       std::vector<size_t>& counts) = 0;
  // Collective: each rank sends its own block to every rank. `send` holds the blocks for ranks
  // 0..size()-1 back to back, sendCounts[j] bytes for rank j; `recv` is resized to the total
  // this rank receives, the blocks from ranks 0..size()-1 back to back; recvCounts[i] = bytes
  // from rank i. Each block crosses only the link between its two ranks.
  virtual void allToAllV(const void* send, std::span<const size_t> sendCounts,
                         std::vector<std::byte>& recv, std::vector<size_t>& recvCounts) = 0;
  // Collective: root's `bytes` at `data` are copied to every rank's `data`.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // Collective: element-wise sum over ranks, in place.
  virtual void allReduceSum(std::span<int64_t> values) = 0;
  virtual void allReduceSum(std::span<double> values) = 0;
  // Collective: element-wise max over ranks, in place.
  virtual void allReduceMax(std::span<int64_t> values) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with `code`. Not collective: any rank may call it alone.
  [[noreturn]] virtual void abort(int code) = 0;

 private:
  std::string stage_ = "start";
};

// Typed helpers over the byte collectives. T must be trivially copyable.
template <class T>
std::vector<T> allGatherValues(Communicator& comm, std::span<const T> send,
                               std::vector<size_t>* countsPerRank = nullptr) {
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.allGatherV(send.data(), send.size_bytes(), bytes, counts);
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  if (countsPerRank) {
    countsPerRank->clear();
    for (size_t c : counts) countsPerRank->push_back(c / sizeof(T));
  }
  return out;
}

// Collective: every rank's string, in rank order.
std::vector<std::string> allGatherStrings(Communicator& comm, const std::string& mine);
// Collective: every rank's string, in rank order, on `root` only (empty elsewhere).
std::vector<std::string> gatherStrings(Communicator& comm, const std::string& mine, int root);

template <class T>
T allGatherScalarSum(Communicator& comm, T value) {
  int64_t v = static_cast<int64_t>(value);
  comm.allReduceSum(std::span<int64_t>(&v, 1));
  return static_cast<T>(v);
}

}  // namespace eleanor
