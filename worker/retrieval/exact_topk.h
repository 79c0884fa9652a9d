// From approximate to exact top-k. An index scores queries against its shard quickly and
// approximately (float32 BLAS, bf16 on AMX, or bf16/fp16/int8 on a GPU), keeps a window of the
// best rows per query, and this step makes the answer exact: equal to a brute-force top-k of
// the double-precision dot products of the stored float32 vectors, ties broken by global row.
//
//   Let a row's approximate score a be within err(a) = fixed + relative·|a| of its exact
//   score s (ScoreBound: the index knows its arithmetic). With tau the k-th best approximate
//   score, the exact k-th score is >= tau - err(tau) (the k rows at or above tau are all
//   within err of their exact scores, and a - err(a) rises with a), so every row of the exact
//   top-k has an approximate score at or above the floor: the a at which a + err(a) =
//   tau - err(tau) (tau - 2 fixed where scores are not rounded themselves). The rows of the
//   window at or above that floor, rescored exactly, hold the exact top-k whenever the
//   window's last score is below the floor. When it is not (many near-ties), the index
//   rescans that query for every row at or above the floor.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/matrix.h"
#include "worker/retrieval/candidate.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {

// How far a query's approximate scores can be from the exact ones: |a - s| <= fixed +
// relative·|a|. `fixed` covers the query and the rows as scored (rounded to a narrow type) and
// the float32 sums; `relative` the rounding of each score itself to a narrow type (0 where
// scores are float32).
struct ScoreBound {
  double fixed = 0;
  double relative = 0;

  // The floor of the header comment for a k-th best approximate score tau. Rises with tau.
  double floor(double tau) const;
};

// A block of queries' approximate windows, best first: rows are local to the shard.
struct ApproximateTopK {
  int64_t queries = 0;
  int64_t kept = 0;
  std::vector<float> values;  // queries × kept; a shorter window ends in (-inf, row -1) slots
  std::vector<int64_t> rows;  // queries × kept
  // Empty: a fixed-length window, complete when its last score is below the floor. Otherwise
  // one flag per query from an index that kept every row at or above the floor of the k-th
  // (true) or had to cut the window short (false: the query is scanned again).
  std::vector<char> complete;
};

// For the queries listed (indices into the block), every local row whose approximate score is
// >= floors[i]: one list per listed query.
using Rescan = std::function<std::vector<std::vector<int64_t>>(std::span<const int64_t> queries,
                                                               std::span<const double> floors)>;

struct ExactTopKStats {
  int64_t rescannedQueries = 0;
  int64_t rescoredRows = 0;
  double rescoreSeconds = 0;  // wall time of the double rescoring (not of the rescans)
};

// Writes the exact top-k of queries [q0, q0 + approx.queries) into out[(q0 + i) * k ...],
// empty slots past the shard size. `shard` holds the normalised float32 rows the index scores;
// bounds[i] is query q0 + i's. Rescoring runs on up to `threads` threads.
ExactTopKStats exactTopK(const Matrix& shard, int64_t rowOffset, const Matrix& queries, int64_t q0,
                         const ApproximateTopK& approx, int k, std::span<const ScoreBound> bounds,
                         const Rescan& rescan, int threads, std::vector<Candidate>& out);

// Significant bits (the implicit one included) of the narrow types an index scores in: rounding
// to nearest errs by at most 2^-bits relative (the unit roundoff), so bfloat16's is 2^-8.
constexpr int kBfloat16Bits = 8;
constexpr int kFloat16Bits = 11;
constexpr int kTf32Bits = 11;
inline double unitRoundoff(int significantBits) {
  return std::ldexp(1.0, -significantBits);
}

// The bound for a query q scored against the shard's unit-length rows p as q~ and p~ (each
// rounded to a narrow type, or as given), with float32 sums of exact products:
//   |q.p - q~.p~| <= |q - q~| |p| + |q~| |p - p~|,
// the sums add twice the worst case of a float32 sum of dim products (2 dim 2^-24 |q~| |p~|,
// which also covers truncating accumulation), and `scoreRoundoff` is the unit roundoff of the
// type each score is stored in (0: float32). queryResidual = |q - q~|, rowResidual = the
// largest |p - p~| over the shard (both 0 when scored as given); `extraRelative` adds
// extraRelative·|q| for rounding not measured here (TF32 inside the GPU's matrix units); 1%
// slack on all, for the double arithmetic of the norms.
ScoreBound scoreBound(int64_t dim, double queryNorm, double queryResidual, double rowResidual,
                      double scoreRoundoff = 0.0, double extraRelative = 0.0);

// The largest float not above `value`, so that a float compare against it misses no score at
// or above the double (a floor, for scores held as floats).
float floatAtOrBelow(double value);

// |a - b| and |a|, in double.
double residualNorm(const float* a, const float* b, int64_t n);
double norm(std::span<const float> a);

// The start of every ShardIndex::search: checks k and the queries' width against `shard`,
// makes `out` queries.rows × k empty slots, counts the queries; false when there is nothing to
// score (no queries or an empty shard).
bool startSearch(const Matrix& shard, const Matrix& queries, int k, SearchStats& stats,
                 std::vector<Candidate>& out);

// The exact score used for ranking: sum over d of double(a[d]) * double(b[d]), d ascending.
double exactDot(const float* a, const float* b, int64_t dim);

// exactDot(query, shard.row(rows[i])) into out[i] for every i: the same bits, several rows at
// a time.
void exactDots(const float* query, const Matrix& shard, std::span<const int64_t> rows, double* out);

// Normalises each row to unit length in place (zero rows stay zero). Deterministic.
void normalizeRows(Matrix& m);

}  // namespace eleanor
