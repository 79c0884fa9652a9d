// Merging per-shard top-k lists into the global top-k. Pure functions.
#pragma once

#include <span>
#include <vector>

#include "worker/retrieval/candidate.h"

namespace eleanor {

// The best `k` of the union of `lists` by ranksBefore, best first, without empty slots (fewer
// than k when the lists hold fewer real candidates). Each list must be sorted best first and
// rows must be distinct across lists (shards are disjoint).
std::vector<Candidate> mergeTopK(std::span<const std::span<const Candidate>> lists, int k);

}  // namespace eleanor
