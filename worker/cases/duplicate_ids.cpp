#include "worker/cases/duplicate_ids.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

namespace eleanor {

DuplicateIds findDuplicateIds(const CaseReader& reader, Communicator& comm) {
  using IdAtLine = CaseReader::IdAtLine;
  const std::vector<IdAtLine> mine = reader.idsInRange();
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.gatherV(mine.data(), mine.size() * sizeof(IdAtLine), 0, bytes, counts);

  // Rank 0: (repeat line, first line) pairs, in line order; then every rank gets them all.
  std::vector<int64_t> pairs;
  if (comm.rank() == 0) {
    std::vector<IdAtLine> all(bytes.size() / sizeof(IdAtLine));
    if (!all.empty()) std::memcpy(all.data(), bytes.data(), bytes.size());
    std::sort(all.begin(), all.end(), [](const IdAtLine& a, const IdAtLine& b) {
      return std::tie(a.high, a.low, a.line) < std::tie(b.high, b.low, b.line);
    });
    for (size_t i = 1, first = 0; i < all.size(); ++i) {
      if (all[i].high == all[first].high && all[i].low == all[first].low) {
        pairs.push_back(all[i].line);
        pairs.push_back(all[first].line);
      } else {
        first = i;
      }
    }
  }
  int64_t size = static_cast<int64_t>(pairs.size());
  comm.broadcast(&size, sizeof(size), 0);
  pairs.resize(static_cast<size_t>(size));
  if (size > 0) comm.broadcast(pairs.data(), pairs.size() * sizeof(int64_t), 0);

  DuplicateIds result;
  result.total = size / 2;
  const int64_t begin = reader.firstLine(), end = begin + reader.rankLines();
  for (int64_t i = 0; i < size; i += 2) {
    if (result.exampleLine == 0 || pairs[i] < result.exampleLine) {
      result.exampleLine = pairs[i];
      result.exampleFirst = pairs[i + 1];
    }
    if (pairs[i] >= begin && pairs[i] < end) result.laterLines[pairs[i]] = pairs[i + 1];
  }
  return result;
}

}  // namespace eleanor
