// ShardIndex: exact top-k of queries against this rank's contiguous shard of the precedents.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/matrix.h"
#include "worker/retrieval/candidate.h"

namespace eleanor {

struct SearchOptions {
  int64_t memoryBudgetBytes = 256LL << 20;  // bound on the score tile in flight
  int threads = 0;                          // 0: LibTorch's default (OMP_NUM_THREADS)
};

class ShardIndex {
 public:
  virtual ~ShardIndex() = default;
  virtual int64_t rows() const = 0;
  virtual int64_t dim() const = 0;
  virtual int64_t rowOffset() const = 0;  // global row of local row 0

  // For each query row (unit length, dim() columns), the best k shard rows by cosine
  // similarity: `out` becomes Q × k, row-major, each list best first by (score desc, global
  // row asc), slots past the shard's size empty (row -1). Scores are the exact double dot
  // products of the stored float vectors, so the same pair scores the same on any rank, tile
  // size or W; any k >= 1 is allowed.
  virtual void search(const Matrix& queries, int k, std::vector<Candidate>& out) const = 0;
};

// The CPU index over `shard` (rows are normalised here, in double, then stored as float).
std::unique_ptr<ShardIndex> makeCpuShardIndex(Matrix shard, int64_t rowOffset,
                                              SearchOptions options);

// Normalises each row to unit length in place (zero rows stay zero). Deterministic.
void normalizeRows(Matrix& m);

// The exact score used for ranking: sum over d of double(a[d]) * double(b[d]), d ascending.
double exactDot(const float* a, const float* b, int64_t dim);

}  // namespace eleanor
