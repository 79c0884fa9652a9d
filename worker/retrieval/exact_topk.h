// From approximate to exact top-k. An index scores queries against its shard quickly and
// approximately (float32 BLAS, or bf16/fp16/int8 on a GPU), keeps a window of the best `kept`
// rows per query, and this step makes the answer exact: equal to a brute-force top-k of the
// double-precision dot products of the stored float32 vectors, ties broken by global row.
//
//   Let eps bound |approximate score - exact score| for a query (the index knows its
//   arithmetic: see its tolerance). With tau the k-th best approximate score, every row of
//   the exact top-k has an approximate score >= tau - 2 eps (the k rows above tau are all
//   within eps of their exact scores, so the exact k-th score is >= tau - eps). So the rows
//   of the window at or above that floor, rescored exactly, hold the exact top-k whenever the
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

// A block of queries' approximate windows, best first: rows are local to the shard.
struct ApproximateTopK {
  int64_t queries = 0;
  int64_t kept = 0;
  std::vector<float> values;  // queries × kept; a shorter window ends in (-inf, row -1) slots
  std::vector<int64_t> rows;  // queries × kept
  // Empty: a fixed-length window, complete when its last score is below the floor. Otherwise
  // one flag per query from an index that kept every row within 2 eps of the k-th (true) or
  // had to cut the window short (false: the query is scanned again).
  std::vector<char> complete;
};

// For the queries listed (indices into the block), every local row whose approximate score is
// >= floors[i]: one list per listed query.
using Rescan = std::function<std::vector<std::vector<int64_t>>(std::span<const int64_t> queries,
                                                               std::span<const double> floors)>;

struct ExactTopKStats {
  int64_t rescannedQueries = 0;
  int64_t rescoredRows = 0;
};

// Writes the exact top-k of queries [q0, q0 + approx.queries) into out[(q0 + i) * k ...],
// empty slots past the shard size. `shard` holds the normalised float32 rows the index scores;
// `epsilon` gives eps for a query row. Rescoring runs on up to `threads` threads.
ExactTopKStats exactTopK(const Matrix& shard, int64_t rowOffset, const Matrix& queries, int64_t q0,
                         const ApproximateTopK& approx, int k,
                         const std::function<double(std::span<const float>)>& epsilon,
                         const Rescan& rescan, int threads, std::vector<Candidate>& out);

// Significant bits (the implicit one included) of the narrow types an index scores in: rounding
// to nearest errs by at most 2^-bits relative (the unit roundoff), so bfloat16's is 2^-8.
constexpr int kBfloat16Bits = 8;
constexpr int kFloat16Bits = 11;
constexpr int kTf32Bits = 11;
inline double unitRoundoff(int significantBits) {
  return std::ldexp(1.0, -significantBits);
}

// The eps of the header comment for one query row scored against unit-length rows in float32:
// twice the worst-case error of a float32 sum of query.size() products, plus `extraRelative`
// (relative rounding of inputs and output held in a narrower type) times |query|, plus
// 0.5 * int8Scale * |query|_1 (rows rounded to an int8 grid of that largest step), 1% slack.
double float32Epsilon(std::span<const float> query, double extraRelative = 0.0,
                      double int8Scale = 0.0);

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
