#include "worker/retrieval/rounding_residual.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "common/error.h"
#include "worker/retrieval/exact_topk.h"

namespace eleanor {
namespace {

// Rounded rows (any dtype, any device) as float32 on the host: exact for bfloat16 and float16.
at::Tensor widened(const at::Tensor& rounded) {
  ELEANOR_ASSERT(rounded.dim() == 2, "rounded rows must be a matrix");
  return rounded.to(at::kCPU).to(at::kFloat).contiguous();
}

// Calls each(i, residual of row i) for the rows of `rounded` against `exact` (same shape).
template <class Each>
void forEachResidual(const float* exact, const at::Tensor& rounded, Each&& each) {
  const at::Tensor wide = widened(rounded);
  const float* values = wide.data_ptr<float>();
  const int64_t dim = wide.size(1);
  for (int64_t i = 0; i < wide.size(0); ++i)
    each(i, residualNorm(exact + i * dim, values + i * dim, dim));
}

}  // namespace

std::vector<double> roundingResiduals(const float* exact, const at::Tensor& rounded) {
  std::vector<double> out(static_cast<size_t>(rounded.size(0)));
  forEachResidual(exact, rounded, [&](int64_t i, double r) { out[i] = r; });
  return out;
}

double largestRoundingResidual(const Matrix& exact,
                               const std::function<at::Tensor(int64_t, int64_t)>& rounded) {
  constexpr int64_t kBlockRows = 4096;
  return at::parallel_reduce(
      0, exact.rows, kBlockRows, 0.0,
      [&](int64_t r0, int64_t r1, double largest) {
        for (int64_t b0 = r0; b0 < r1; b0 += kBlockRows) {
          const int64_t b1 = std::min(r1, b0 + kBlockRows);
          const at::Tensor block = rounded(b0, b1);
          ELEANOR_ASSERT(block.size(0) == b1 - b0 && block.size(1) == exact.cols,
                         "rounded rows do not match the exact ones");
          forEachResidual(exact.row(b0).data(), block,
                          [&](int64_t, double r) { largest = std::max(largest, r); });
        }
        return largest;
      },
      [](double a, double b) { return std::max(a, b); });
}

std::vector<ScoreBound> queryBounds(const float* queries, const at::Tensor& scored,
                                    double rowResidual, double scoreRoundoff,
                                    double extraRelative) {
  const int64_t count = scored.size(0), dim = scored.size(1);
  const bool rounded = scored.scalar_type() != at::kFloat;
  const at::Tensor wide = rounded ? widened(scored) : at::Tensor();
  const float* as = rounded ? wide.data_ptr<float>() : nullptr;
  std::vector<ScoreBound> bounds(static_cast<size_t>(count));
  // Two passes of `dim` doubles per query: about 1 ms for 1024 x 384 on one thread, on the
  // path of every search block, so over LibTorch's threads.
  at::parallel_for(0, count, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* query = queries + i * dim;
      const double residual = rounded ? residualNorm(query, as + i * dim, dim) : 0.0;
      bounds[static_cast<size_t>(i)] =
          scoreBound(dim, norm({query, static_cast<size_t>(dim)}), residual, rowResidual,
                     scoreRoundoff, extraRelative);
    }
  });
  return bounds;
}

}  // namespace eleanor
