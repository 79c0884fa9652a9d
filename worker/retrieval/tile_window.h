// A tile's approximate window per query on the matrix path: the best `keep` scores of each row
// of a score tile, through the largest of each group of columns first, so that the full sort
// network of `topk` runs over a few thousand group maxima and the columns of the best groups
// instead of every score.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
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

// For each row of `scores` [Q, T]: every score above that row's floor (`floors` [Q, 1], same
// dtype) and its column (int64), as [Q, C] tensors where C is the most that any row has;
// a row with fewer is padded with -inf in column 0. nullopt where some row has more than
// `limit` (the caller then takes tileWindow). Once a running window holds `keep` scores, its
// lowest is a floor: no score at or below it can enter the window, so the window's merge with
// these (every score above it) is its merge with the tile's best `keep`.
std::optional<std::tuple<at::Tensor, at::Tensor>> scoresAboveFloors(const at::Tensor& scores,
                                                                    const at::Tensor& floors,
                                                                    int64_t limit);

}  // namespace eleanor
