// A tile's approximate window per query on the matrix path: the best `keep` scores of each row
// of a score tile, through the largest of each group of columns first, so that the full sort
// network of `topk` runs over a few thousand group maxima and the columns of the best groups
// instead of every score.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <tuple>

namespace eleanor {

// Columns per group.
constexpr int64_t kTileWindowGroup = 32;

// For each row of `scores` [Q, T] (T >= keep >= 1): `keep` of its scores and their columns
// (int64), in no particular order, such that every score left out is <= every score kept (so
// the values are the row's `keep` largest; among equal scores at the edge any may be kept).
// Same device and dtype as `scores`. Equals `scores.topk(keep, 1, true, false)` up to that
// choice and the order; used where the tile has at least 4 * keep whole groups.
std::tuple<at::Tensor, at::Tensor> tileWindow(const at::Tensor& scores, int64_t keep);

}  // namespace eleanor
