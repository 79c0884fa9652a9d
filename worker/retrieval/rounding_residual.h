// How far rows and queries move when an index rounds them to the type it scores in, for
// exact_topk.h's ScoreBound: measured on the data, because the worst case (every element off
// by the whole unit roundoff, the same way) is about three times what real vectors see, and
// the bound sets how many rows each query rescores exactly.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "common/matrix.h"
#include "worker/retrieval/exact_topk.h"

namespace eleanor {

// |exact row i - rounded row i| in double, for each row of `rounded` (a tensor [rows, dim] of
// any dtype on any device, widened to float32, exactly for bfloat16 and float16, before the
// difference); `exact` holds rows × dim floats, row-major.
std::vector<double> roundingResiduals(const float* exact, const at::Tensor& rounded);

// The largest of those over a whole shard, rounded rows made a block at a time by
// rounded(r0, r1) (a CPU tensor [r1 - r0, exact.cols]), blocks on LibTorch's threads.
double largestRoundingResidual(const Matrix& exact,
                               const std::function<at::Tensor(int64_t, int64_t)>& rounded);

// exact_topk.h's bound for each of a block of queries: `queries` (float32, scored.size(0) rows
// of scored.size(1)) as scored in `scored` (their residuals measured unless it is float32),
// against rows whose largest residual is `rowResidual`; see scoreBound for the rest.
std::vector<ScoreBound> queryBounds(const float* queries, const at::Tensor& scored,
                                    double rowResidual, double scoreRoundoff,
                                    double extraRelative = 0.0);

}  // namespace eleanor
