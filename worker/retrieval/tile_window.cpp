#include "worker/retrieval/tile_window.h"

#include <limits>

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

// Two passes, the second small: each group's largest score (one read of the tile, as in
// tileWindow), then the groups whose largest is above the floor are read again (a gather of
// whole groups), score by score. The hits come grouped by row (groups in order, and scores in
// order within them), so a hit's slot in its row is its index less the count of the rows before.
std::optional<std::tuple<at::Tensor, at::Tensor>> scoresAboveFloors(const at::Tensor& scores,
                                                                    const at::Tensor& floors,
                                                                    int64_t limit) {
  ELEANOR_ASSERT(scores.dim() == 2 && floors.dim() == 2 && floors.size(0) == scores.size(0) &&
                     floors.size(1) == 1 && floors.scalar_type() == scores.scalar_type(),
                 "scoresAboveFloors needs [Q, T] scores and [Q, 1] floors of their dtype");
  const int64_t queries = scores.size(0), width = scores.size(1);
  if (width % kTileWindowGroup != 0) return std::nullopt;
  const int64_t groups = width / kTileWindowGroup;
  const at::Tensor byGroup = scores.contiguous().view({queries * groups, kTileWindowGroup});
  const at::Tensor pairs = byGroup.amax(1).view({queries, groups}).gt(floors).nonzero();
  // Each of these groups holds a score above its floor: more of them than `limit` a query on
  // average, and some query has more than `limit` such scores. Said before their gather.
  if (pairs.size(0) > queries * limit) return std::nullopt;
  const at::Tensor pairRow = pairs.select(1, 0), pairGroup = pairs.select(1, 1);
  const at::Tensor pairScores = byGroup.index_select(0, pairRow.mul(groups).add_(pairGroup));
  const at::Tensor hits = pairScores.gt(floors.index_select(0, pairRow)).nonzero();  // (pair, i)
  const int64_t count = hits.size(0);
  if (count == 0)
    return std::tuple{at::empty({queries, 0}, scores.options()),
                      at::empty({queries, 0}, pairs.options())};
  const at::Tensor pair = hits.select(1, 0), within = hits.select(1, 1);
  const at::Tensor row = pairRow.index_select(0, pair);
  // (Not bincount: on a GPU it reads its input's range back to the host, two waits more.)
  const at::Tensor counts =
      at::zeros({queries}, row.options()).index_add_(0, row, at::ones_like(row));
  const int64_t widest = counts.max().item<int64_t>();
  if (widest > limit) return std::nullopt;
  const at::Tensor starts = counts.cumsum(0).sub_(counts);
  const at::Tensor place =
      row.mul(widest).add_(at::arange(count, hits.options())).sub_(starts.index_select(0, row));
  at::Tensor values =
      at::full({queries, widest}, -std::numeric_limits<float>::infinity(), scores.options());
  at::Tensor columns = at::zeros({queries, widest}, pairs.options());
  values.view(-1).index_copy_(
      0, place, pairScores.view(-1).index_select(0, pair.mul(kTileWindowGroup).add_(within)));
  columns.view(-1).index_copy_(0, place,
                               pairGroup.index_select(0, pair).mul_(kTileWindowGroup).add_(within));
  return std::tuple{values, columns};
}

}  // namespace eleanor
