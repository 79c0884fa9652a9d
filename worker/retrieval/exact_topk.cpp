#include "worker/retrieval/exact_topk.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "common/error.h"

namespace eleanor {

double exactDot(const float* a, const float* b, int64_t dim) {
  double sum = 0.0;
  for (int64_t d = 0; d < dim; ++d) sum += static_cast<double>(a[d]) * static_cast<double>(b[d]);
  return sum;
}

void exactDots(const float* query, const Matrix& shard, std::span<const int64_t> rows,
               double* out) {
  // The rows' sums run side by side, eight at a time, each still one double sum in d order
  // (so the bits are exactDot's): the rows are read as eight streams at once, which is what
  // pays here, because rescored rows are scattered over a shard far larger than the caches (a
  // row at a time: ~1.1 ns per product, eight: ~0.45, on the build machine's Xeon). A last
  // group of 2-7 rows runs the same way, its spare lanes repeating its last row: a lone
  // row's sum is one chain of dependent adds, several times slower per product.
  const int64_t dim = shard.cols, count = static_cast<int64_t>(rows.size());
  int64_t i = 0;
#if defined(__SSE2__)
  constexpr int64_t kRows = 8;
  const int64_t vectorDims = dim - dim % 4;
  for (; count - i >= 2; i += kRows) {
    const int64_t valid = std::min(kRows, count - i);
    const float* p[kRows];
    for (int64_t l = 0; l < kRows; ++l) p[l] = shard.row(rows[i + std::min(l, valid - 1)]).data();
    // The next eight rows are as scattered: ask for them now, so that their cache misses
    // overlap this group's arithmetic instead of following it.
    for (int64_t l = i + kRows; l < std::min(count, i + 2 * kRows); ++l) {
      const char* next = reinterpret_cast<const char*>(shard.row(rows[l]).data());
      for (int64_t byte = 0; byte < dim * static_cast<int64_t>(sizeof(float)); byte += 64)
        _mm_prefetch(next + byte, _MM_HINT_T0);
    }
    // sums[j] holds rows 2j and 2j + 1.
    __m128d sums[4] = {_mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd(), _mm_setzero_pd()};
    for (int64_t d = 0; d < vectorDims; d += 4) {
      __m128 a0 = _mm_loadu_ps(p[0] + d), a1 = _mm_loadu_ps(p[1] + d);
      __m128 a2 = _mm_loadu_ps(p[2] + d), a3 = _mm_loadu_ps(p[3] + d);
      __m128 b0 = _mm_loadu_ps(p[4] + d), b1 = _mm_loadu_ps(p[5] + d);
      __m128 b2 = _mm_loadu_ps(p[6] + d), b3 = _mm_loadu_ps(p[7] + d);
      _MM_TRANSPOSE4_PS(a0, a1, a2, a3);  // a_j: element d + j of rows 0..3
      _MM_TRANSPOSE4_PS(b0, b1, b2, b3);  // b_j: element d + j of rows 4..7
      const __m128 a[4] = {a0, a1, a2, a3}, b[4] = {b0, b1, b2, b3};
      for (int j = 0; j < 4; ++j) {
        const __m128d q = _mm_set1_pd(static_cast<double>(query[d + j]));
        sums[0] = _mm_add_pd(sums[0], _mm_mul_pd(q, _mm_cvtps_pd(a[j])));
        sums[1] = _mm_add_pd(sums[1], _mm_mul_pd(q, _mm_cvtps_pd(_mm_movehl_ps(a[j], a[j]))));
        sums[2] = _mm_add_pd(sums[2], _mm_mul_pd(q, _mm_cvtps_pd(b[j])));
        sums[3] = _mm_add_pd(sums[3], _mm_mul_pd(q, _mm_cvtps_pd(_mm_movehl_ps(b[j], b[j]))));
      }
    }
    double group[kRows];
    for (int j = 0; j < 4; ++j) _mm_storeu_pd(group + 2 * j, sums[j]);
    for (int64_t d = vectorDims; d < dim; ++d)
      for (int64_t l = 0; l < valid; ++l)
        group[l] += static_cast<double>(query[d]) * static_cast<double>(p[l][d]);
    std::copy(group, group + valid, out + i);
  }
#endif
  for (; i < count; ++i) out[i] = exactDot(query, shard.row(rows[i]).data(), dim);
}

double ScoreBound::floor(double tau) const {
  // The exact k-th is >= tau - err(tau) =: c + fixed; a row of the exact top-k has
  // a + relative·|a| >= c, and the left side rises with a. A -inf k-th has no floor (-inf);
  // a NaN query's bound is NaN, and so is its floor, which no score passes.
  const double spread = relative == 0 ? 0.0 : relative * std::abs(tau);
  const double c = tau - spread - 2 * fixed;
  return c >= 0 ? c / (1 + relative) : c / (1 - relative);
}

ScoreBound scoreBound(int64_t dim, double queryNorm, double queryResidual, double rowResidual,
                      double scoreRoundoff, double extraRelative) {
  const double slack = 1.01;
  const double roundedQuery = queryNorm + queryResidual, roundedRow = 1.0 + rowResidual;
  const double accumulate = 2.0 * static_cast<double>(dim) * std::ldexp(1.0, -24);
  ScoreBound bound;
  bound.fixed = (queryResidual + roundedQuery * rowResidual +
                 roundedQuery * roundedRow * accumulate + extraRelative * queryNorm) *
                    slack +
                // A score under the narrow type's smallest normal (float16: 2^-14; bfloat16's
                // is far smaller) errs by up to half its subnormal step, not relatively.
                scoreRoundoff * std::ldexp(1.0, -14) + 1e-12;
  // Rounding m to a errs by u|m| <= u|a| / (1 - u).
  if (scoreRoundoff > 0) bound.relative = scoreRoundoff / (1 - scoreRoundoff) * slack;
  return bound;
}

float floatAtOrBelow(double value) {
  float f = static_cast<float>(value);
  if (static_cast<double>(f) > value) f = std::nextafter(f, -INFINITY);
  return f;
}

double residualNorm(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    sum += d * d;
  }
  return std::sqrt(sum);
}

double norm(std::span<const float> a) {
  double sum = 0.0;
  for (const float v : a) sum += static_cast<double>(v) * v;
  return std::sqrt(sum);
}

void normalizeRows(Matrix& m) {
  for (int64_t i = 0; i < m.rows; ++i) {
    auto row = m.row(i);
    const double length = norm(row);
    if (length == 0.0) continue;
    for (float& v : row) v = static_cast<float>(v / length);
  }
}

ExactTopKStats exactTopK(const Matrix& shard, int64_t rowOffset, const Matrix& queries, int64_t q0,
                         const ApproximateTopK& approx, int k, std::span<const ScoreBound> bounds,
                         const Rescan& rescan, int threads, std::vector<Candidate>& out) {
  const int64_t n = shard.rows;
  const int64_t kEffective = std::min<int64_t>(k, n);
  const int64_t kept = approx.kept;
  ExactTopKStats stats;
  if (n == 0 || approx.queries == 0) return stats;
  ELEANOR_ASSERT(static_cast<int64_t>(bounds.size()) == approx.queries, "one bound per query");

  // Floors, and which windows cannot be proven complete.
  std::vector<double> floors(approx.queries);
  std::vector<int64_t> incomplete;
  std::vector<double> incompleteFloors;
  for (int64_t i = 0; i < approx.queries; ++i) {
    const float* v = approx.values.data() + i * kept;
    floors[i] = bounds[i].floor(static_cast<double>(v[kEffective - 1]));
    const bool complete = approx.complete.empty()
                              ? kept >= n || static_cast<double>(v[kept - 1]) < floors[i]
                              : approx.complete[i] != 0;
    if (!complete) {
      incomplete.push_back(i);
      incompleteFloors.push_back(floors[i]);
    }
  }
  std::vector<std::vector<int64_t>> rescanned;
  if (!incomplete.empty()) rescanned = rescan(incomplete, incompleteFloors);
  std::vector<const std::vector<int64_t>*> extra(approx.queries, nullptr);
  for (size_t j = 0; j < incomplete.size(); ++j) extra[incomplete[j]] = &rescanned[j];
  stats.rescannedQueries = static_cast<int64_t>(incomplete.size());

  // Rescore in parallel: the work per query is independent and writes its own slots.
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int64_t> next{0}, rescored{0};
  const auto work = [&] {
    std::vector<Candidate> pool;
    std::vector<double> scores;
    for (int64_t i = next++; i < approx.queries; i = next++) {
      std::span<const int64_t> rows;
      if (extra[i]) {
        rows = *extra[i];
      } else {
        const float* v = approx.values.data() + i * kept;
        const int64_t* r = approx.rows.data() + i * kept;
        int64_t above = 0;
        while (above < kept && r[above] >= 0 && static_cast<double>(v[above]) >= floors[i]) ++above;
        rows = {r, static_cast<size_t>(above)};
      }
      scores.resize(rows.size());
      exactDots(queries.row(q0 + i).data(), shard, rows, scores.data());
      pool.clear();
      for (size_t j = 0; j < rows.size(); ++j) pool.push_back({scores[j], rowOffset + rows[j]});
      rescored += static_cast<int64_t>(pool.size());
      const auto cut = pool.begin() + std::min<int64_t>(kEffective, pool.size());
      std::partial_sort(pool.begin(), cut, pool.end(), ranksBefore);
      std::copy(pool.begin(), cut, out.begin() + (q0 + i) * k);
    }
  };
  // OpenMP's threads persist from call to call (a GPU search calls this once per query block,
  // where starting fifteen threads each time would cost about as much as the rescoring).
  const int workers =
      static_cast<int>(std::clamp<int64_t>(approx.queries / 64, 1, std::max(1, threads)));
#pragma omp parallel num_threads(workers) if (workers > 1)
  work();
  stats.rescoredRows = rescored;
  stats.rescoreSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

bool startSearch(const Matrix& shard, const Matrix& queries, int k, SearchStats& stats,
                 std::vector<Candidate>& out) {
  ELEANOR_ASSERT(k >= 1, "k must be at least 1");
  ELEANOR_ASSERT(queries.cols == shard.cols || queries.rows == 0,
                 "query and shard dimensions differ");
  out.assign(static_cast<size_t>(queries.rows * k), Candidate{});
  stats.queries += queries.rows;
  return shard.rows > 0 && queries.rows > 0;
}

}  // namespace eleanor
