#include "common/communicator.h"

namespace eleanor {

std::vector<std::string> allGatherStrings(Communicator& comm, const std::string& mine) {
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.allGatherV(mine.data(), mine.size(), bytes, counts);
  std::vector<std::string> all(static_cast<size_t>(comm.size()));
  size_t offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    all[r].assign(reinterpret_cast<const char*>(bytes.data()) + offset, counts[r]);
    offset += counts[r];
  }
  return all;
}

}  // namespace eleanor
