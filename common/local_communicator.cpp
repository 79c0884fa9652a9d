#include "common/local_communicator.h"

#include <cstdlib>
#include <cstring>

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

void LocalCommunicator::abort(int code) {
  std::_Exit(code);
}

}  // namespace eleanor
