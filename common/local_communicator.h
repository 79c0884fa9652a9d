// LocalCommunicator: the one-process world (W = 1). Collectives are copies; used by unit tests
// and by commands that run without mpirun.
#pragma once

#include "common/communicator.h"

namespace eleanor {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void allGather(const void* send, void* recv, size_t bytes) override;
  void allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                  std::vector<size_t>& counts) override;
  void gatherV(const void* send, size_t bytes, int root, std::vector<std::byte>& recv,
               std::vector<size_t>& counts) override;
  void allToAllV(const void* send, std::span<const size_t> sendCounts, std::vector<std::byte>& recv,
                 std::vector<size_t>& recvCounts) override;
  void broadcast(void*, size_t, int) override {}
  void allReduceSum(std::span<int64_t>) override {}
  void allReduceSum(std::span<double>) override {}
  void allReduceMax(std::span<int64_t>) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
};

}  // namespace eleanor
