// CPU exact search: float32 matrix products over tiles of the shard (LibTorch, BLAS) keep a
// running top-k' per query; the survivors are rescored exactly in double. Exact means the
// result equals a brute-force double-precision top-k with the (score desc, row asc) tie-break:
//
//   Let eps bound |fp32 score - exact score| (a dot product of D terms in float32 is within
//   D * 2^-24 * |q| |p|; we take twice that). With tau = the k-th best fp32 score, every row of
//   the exact top-k has fp32 >= tau - 2 eps. The running list keeps k' > k rows; when its last
//   fp32 score is below tau - 2 eps it holds every such row, otherwise (many near-ties) that
//   query is rescanned in full. So the result never depends on tiling, threads or BLAS.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {

double exactDot(const float* a, const float* b, int64_t dim) {
  double sum = 0.0;
  for (int64_t d = 0; d < dim; ++d) sum += static_cast<double>(a[d]) * static_cast<double>(b[d]);
  return sum;
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

namespace {

constexpr int64_t kQueryBlock = 4096;

at::Tensor view(const Matrix& m) {
  return at::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols},
                       at::TensorOptions().dtype(at::kFloat));
}

class CpuShardIndex : public ShardIndex {
 public:
  CpuShardIndex(Matrix shard, int64_t rowOffset, SearchOptions options)
      : shard_(std::move(shard)), rowOffset_(rowOffset), options_(options) {
    normalizeRows(shard_);
    if (options_.threads > 0) at::set_num_threads(options_.threads);
  }

  int64_t rows() const override { return shard_.rows; }
  int64_t dim() const override { return shard_.cols; }
  int64_t rowOffset() const override { return rowOffset_; }

  void search(const Matrix& queries, int k, std::vector<Candidate>& out) const override {
    ELEANOR_ASSERT(k >= 1, "k must be at least 1");
    ELEANOR_ASSERT(queries.cols == shard_.cols || queries.rows == 0,
                   "query and shard dimensions differ");
    out.assign(static_cast<size_t>(queries.rows * k), Candidate{});
    if (shard_.rows == 0 || queries.rows == 0) return;
    const at::Tensor all = view(queries);
    const at::Tensor shard = view(shard_);
    for (int64_t q0 = 0; q0 < queries.rows; q0 += kQueryBlock) {
      const int64_t q1 = std::min(queries.rows, q0 + kQueryBlock);
      searchBlock(all.slice(0, q0, q1), shard, queries, q0, k, out);
    }
  }

 private:
  void searchBlock(const at::Tensor& block, const at::Tensor& shard, const Matrix& queries,
                   int64_t q0, int k, std::vector<Candidate>& out) const {
    const int64_t n = shard_.rows;
    const int64_t qb = block.size(0);
    const int64_t keep = std::min<int64_t>(n, k + std::max(16, k));
    const int64_t tile = std::clamp<int64_t>(options_.memoryBudgetBytes / (qb * 4), keep, n);

    at::Tensor bestValues, bestRows;
    for (int64_t t0 = 0; t0 < n; t0 += tile) {
      const int64_t t1 = std::min(n, t0 + tile);
      const at::Tensor scores = at::mm(block, shard.slice(0, t0, t1).t());
      auto [values, rows] = scores.topk(std::min(keep, t1 - t0), 1, true, false);
      rows.add_(t0);
      if (bestValues.defined()) {
        values = at::cat({bestValues, values}, 1);
        rows = at::cat({bestRows, rows}, 1);
        auto [v, pick] = values.topk(std::min(keep, values.size(1)), 1, true, false);
        bestValues = v;
        bestRows = rows.gather(1, pick);
      } else {
        bestValues = values;
        bestRows = rows;
      }
    }
    auto [sorted, order] = bestValues.sort(1, true);
    bestRows = bestRows.gather(1, order).contiguous();
    sorted = sorted.contiguous();

    const int64_t kept = sorted.size(1);
    const int64_t kEffective = std::min<int64_t>(k, n);
    const float* values = sorted.data_ptr<float>();
    const int64_t* rows = bestRows.data_ptr<int64_t>();
    at::parallel_for(0, qb, 1, [&](int64_t begin, int64_t end) {
      std::vector<Candidate> pool;
      for (int64_t i = begin; i < end; ++i) {
        const float* query = queries.row(q0 + i).data();
        const double eps = tolerance(query);
        const float* v = values + i * kept;
        const int64_t* r = rows + i * kept;
        const double floor = static_cast<double>(v[kEffective - 1]) - 2 * eps;
        pool.clear();
        if (kept < n && static_cast<double>(v[kept - 1]) >= floor) {
          rescan(query, floor, pool);
        } else {
          for (int64_t j = 0; j < kept && static_cast<double>(v[j]) >= floor; ++j)
            pool.push_back(rescore(query, r[j]));
        }
        const auto cut = pool.begin() + std::min<int64_t>(kEffective, pool.size());
        std::partial_sort(pool.begin(), cut, pool.end(), ranksBefore);
        std::copy(pool.begin(), cut, out.begin() + (q0 + i) * k);
      }
    });
  }

  double tolerance(const float* query) const {
    double norm = 0.0;
    for (int64_t d = 0; d < shard_.cols; ++d) norm += static_cast<double>(query[d]) * query[d];
    return 2.0 * static_cast<double>(shard_.cols) * std::ldexp(1.0, -24) * std::sqrt(norm) *
               1.0001 +
           1e-12;
  }

  Candidate rescore(const float* query, int64_t localRow) const {
    return {exactDot(query, shard_.row(localRow).data(), shard_.cols), rowOffset_ + localRow};
  }

  // Every row whose float32 score reaches `floor`, rescored (the rare many-near-ties case).
  void rescan(const float* query, double floor, std::vector<Candidate>& pool) const {
    const at::Tensor q = at::from_blob(const_cast<float*>(query), {shard_.cols}, at::kFloat);
    const at::Tensor scores = at::mv(view(shard_), q).contiguous();
    const float* s = scores.data_ptr<float>();
    for (int64_t j = 0; j < shard_.rows; ++j) {
      if (static_cast<double>(s[j]) >= floor) pool.push_back(rescore(query, j));
    }
  }

  Matrix shard_;
  int64_t rowOffset_;
  SearchOptions options_;
};

}  // namespace

std::unique_ptr<ShardIndex> makeCpuShardIndex(Matrix shard, int64_t rowOffset,
                                              SearchOptions options) {
  return std::make_unique<CpuShardIndex>(std::move(shard), rowOffset, options);
}

}  // namespace eleanor
