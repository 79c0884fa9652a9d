#include "worker/retrieval/exact_topk.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

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
  // row at a time: ~1.1 ns per product, eight: ~0.45, on the build machine's Xeon).
  const int64_t dim = shard.cols, count = static_cast<int64_t>(rows.size());
  int64_t i = 0;
#if defined(__SSE2__)
  constexpr int64_t kRows = 8;
  const int64_t vectorDims = dim - dim % 4;
  for (; i + kRows <= count; i += kRows) {
    const float* p[kRows];
    for (int64_t l = 0; l < kRows; ++l) p[l] = shard.row(rows[i + l]).data();
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
    for (int j = 0; j < 4; ++j) _mm_storeu_pd(out + i + 2 * j, sums[j]);
    for (int64_t d = vectorDims; d < dim; ++d)
      for (int64_t l = 0; l < kRows; ++l)
        out[i + l] += static_cast<double>(query[d]) * static_cast<double>(p[l][d]);
  }
#endif
  for (; i < count; ++i) out[i] = exactDot(query, shard.row(rows[i]).data(), dim);
}

double float32Epsilon(std::span<const float> query, double extraRelative, double int8Scale) {
  double norm2 = 0.0, norm1 = 0.0;
  for (const float v : query) {
    norm2 += static_cast<double>(v) * v;
    norm1 += std::abs(static_cast<double>(v));
  }
  const double d = static_cast<double>(query.size());
  const double accumulate = 2.0 * d * std::ldexp(1.0, -24);  // float32 sums, twice the bound
  double eps = (accumulate + extraRelative) * std::sqrt(norm2) * 1.01 + 1e-12;
  if (int8Scale > 0) eps += 0.5 * int8Scale * norm1 * 1.01;
  return eps;
}

void normalizeRows(Matrix& m) {
  for (int64_t i = 0; i < m.rows; ++i) {
    auto row = m.row(i);
    double norm = 0.0;
    for (const float v : row) norm += static_cast<double>(v) * v;
    norm = std::sqrt(norm);
    if (norm == 0.0) continue;
    for (float& v : row) v = static_cast<float>(v / norm);
  }
}

ExactTopKStats exactTopK(const Matrix& shard, int64_t rowOffset, const Matrix& queries, int64_t q0,
                         const ApproximateTopK& approx, int k,
                         const std::function<double(std::span<const float>)>& epsilon,
                         const Rescan& rescan, int threads, std::vector<Candidate>& out) {
  const int64_t n = shard.rows;
  const int64_t kEffective = std::min<int64_t>(k, n);
  const int64_t kept = approx.kept;
  ExactTopKStats stats;
  if (n == 0 || approx.queries == 0) return stats;

  // Floors, and which windows cannot be proven complete.
  std::vector<double> floors(approx.queries);
  std::vector<int64_t> incomplete;
  std::vector<double> incompleteFloors;
  for (int64_t i = 0; i < approx.queries; ++i) {
    const float* v = approx.values.data() + i * kept;
    floors[i] = static_cast<double>(v[kEffective - 1]) - 2 * epsilon(queries.row(q0 + i));
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
  const int64_t workers = std::clamp<int64_t>(approx.queries / 64, 1, std::max(1, threads));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  stats.rescoredRows = rescored;
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
