// Candidate: one precedent in a top-k list. Lists are ordered by (score desc, global row asc);
// this tie-break is part of the contract, so results do not depend on W, batch or backend.
#pragma once

#include <cstdint>

namespace eleanor {

struct Candidate {
  double score = 0.0;  // cosine similarity, exact rescore in double
  int64_t row = -1;    // global precedent row; -1 marks an empty slot (shard smaller than k)
  bool empty() const { return row < 0; }
};

// True when `a` ranks before `b`. Empty slots rank after every real candidate.
inline bool ranksBefore(const Candidate& a, const Candidate& b) {
  if (a.empty() != b.empty()) return !a.empty();
  if (a.score != b.score) return a.score > b.score;
  return a.row < b.row;
}

}  // namespace eleanor
