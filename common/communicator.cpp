#include "common/communicator.h"

namespace eleanor {

namespace {
std::vector<std::string> split(const Communicator& comm, const std::vector<std::byte>& bytes,
                               const std::vector<size_t>& counts) {
  std::vector<std::string> all(static_cast<size_t>(comm.size()));
  size_t offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    all[r].assign(reinterpret_cast<const char*>(bytes.data()) + offset, counts[r]);
    offset += counts[r];
  }
  return all;
}
}  // namespace

std::vector<std::string> allGatherStrings(Communicator& comm, const std::string& mine) {
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.allGatherV(mine.data(), mine.size(), bytes, counts);
  return split(comm, bytes, counts);
}

std::vector<std::string> gatherStrings(Communicator& comm, const std::string& mine, int root) {
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.gatherV(mine.data(), mine.size(), root, bytes, counts);
  if (comm.rank() != root) return {};
  return split(comm, bytes, counts);
}

}  // namespace eleanor
