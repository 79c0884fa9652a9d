#include "worker/retrieval/exact_topk.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "common/error.h"

namespace eleanor {

double exactDot(const float* a, const float* b, int64_t dim) {
  double sum = 0.0;
  for (int64_t d = 0; d < dim; ++d) sum += static_cast<double>(a[d]) * static_cast<double>(b[d]);
  return sum;
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
    if (kept < n && static_cast<double>(v[kept - 1]) >= floors[i]) {
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
    for (int64_t i = next++; i < approx.queries; i = next++) {
      const float* query = queries.row(q0 + i).data();
      pool.clear();
      const auto add = [&](int64_t local) {
        pool.push_back({exactDot(query, shard.row(local).data(), shard.cols), rowOffset + local});
      };
      if (extra[i]) {
        for (const int64_t local : *extra[i]) add(local);
      } else {
        const float* v = approx.values.data() + i * kept;
        const int64_t* r = approx.rows.data() + i * kept;
        for (int64_t j = 0; j < kept && static_cast<double>(v[j]) >= floors[i]; ++j) add(r[j]);
      }
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
