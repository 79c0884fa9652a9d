#include "common/local_communicator.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace eleanor {

void LocalCommunicator::allGather(const void* send, void* recv, size_t bytes) {
  if (bytes) std::memmove(recv, send, bytes);
}

void LocalCommunicator::allGatherV(const void* send, size_t bytes, std::vector<std::byte>& recv,
                                   std::vector<size_t>& counts) {
  recv.resize(bytes);
  if (bytes) std::memcpy(recv.data(), send, bytes);
  counts.assign(1, bytes);
}

void LocalCommunicator::gatherV(const void* send, size_t bytes, int, std::vector<std::byte>& recv,
                                std::vector<size_t>& counts) {
  allGatherV(send, bytes, recv, counts);
}

void LocalCommunicator::allToAllV(const void* send, std::span<const size_t> sendCounts,
                                  std::vector<std::byte>& recv, std::vector<size_t>& recvCounts) {
  if (sendCounts.size() != 1)
    throw InternalError("allToAllV: " + std::to_string(sendCounts.size()) + " counts for 1 rank");
  allGatherV(send, sendCounts[0], recv, recvCounts);
}

void LocalCommunicator::abort(int code) {
  std::_Exit(code);
}

}  // namespace eleanor
