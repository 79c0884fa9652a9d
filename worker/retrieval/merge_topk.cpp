#include "worker/retrieval/merge_topk.h"

#include <queue>

namespace eleanor {

std::vector<Candidate> mergeTopK(std::span<const std::span<const Candidate>> lists, int k) {
  // A W-way merge with a heap of list heads: O(k log W), and W is small.
  struct Head {
    Candidate candidate;
    size_t list;
    size_t position;
  };
  const auto worse = [](const Head& a, const Head& b) {
    return ranksBefore(b.candidate, a.candidate);
  };
  std::priority_queue<Head, std::vector<Head>, decltype(worse)> heads(worse);
  for (size_t l = 0; l < lists.size(); ++l) {
    if (!lists[l].empty() && !lists[l][0].empty()) heads.push({lists[l][0], l, 0});
  }
  std::vector<Candidate> merged;
  merged.reserve(static_cast<size_t>(k));
  while (!heads.empty() && static_cast<int>(merged.size()) < k) {
    const Head best = heads.top();
    heads.pop();
    merged.push_back(best.candidate);
    const size_t next = best.position + 1;
    const auto& list = lists[best.list];
    if (next < list.size() && !list[next].empty()) heads.push({list[next], best.list, next});
  }
  return merged;
}

}  // namespace eleanor
