#include "worker/retrieval/tile_window.h"

#include "common/error.h"

namespace eleanor {

// Why it is exact: let a column c of group g be left out. Either g was one of the `keep` groups
// picked, and c lost the final topk to `keep` candidates of at least its score; or it was not,
// and the `keep` picked groups each have a largest score >= g's largest >= c's score: `keep`
// distinct columns, all candidates, at least as high. Either way the `keep` kept scores are all
// >= c's. (NaN is the largest to both amax and topk, so it is never left out for a lower score.)
std::tuple<at::Tensor, at::Tensor> tileWindow(const at::Tensor& scores, int64_t keep) {
  ELEANOR_ASSERT(scores.dim() == 2 && keep >= 1 && keep <= scores.size(1),
                 "tileWindow needs a [Q, T] tile with T >= keep >= 1");
  const int64_t queries = scores.size(0), width = scores.size(1);
  const int64_t groups = width / kTileWindowGroup;
  if (groups < 4 * keep) return scores.topk(keep, 1, true, false);

  const int64_t body = groups * kTileWindowGroup;
  const at::Tensor tile = scores.contiguous();
  const at::Tensor maxima =
      tile.slice(1, 0, body).view({queries, groups, kTileWindowGroup}).amax(2);
  const at::Tensor picked = std::get<1>(maxima.topk(keep, 1, true, false));  // [Q, keep]
  const at::Tensor offsets = at::arange(kTileWindowGroup, picked.options());
  at::Tensor columns =
      (picked.unsqueeze(2) * kTileWindowGroup + offsets).view({queries, keep * kTileWindowGroup});
  if (body < width)  // the columns after the last whole group are all candidates
    columns = at::cat(
        {columns, at::arange(body, width, picked.options()).expand({queries, width - body})}, 1);
  auto [values, which] = tile.gather(1, columns).topk(keep, 1, true, false);
  return {values, columns.gather(1, which)};
}

}  // namespace eleanor
