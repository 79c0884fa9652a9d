// tileWindow (the matrix path's window per query) against LibTorch's own topk on seeded random
// tiles: the same values (the `keep` largest of each row, ties at the edge included), columns
// that hold those values, none twice; with the best scores crowded into one group, hidden in
// the columns after the last whole group, tied, -inf, and in float32 and bfloat16.
#include "worker/retrieval/tile_window.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

namespace eleanor {
namespace {

// A [q, t] tile of scores on a coarse grid (many ties), with a few -inf.
at::Tensor randomTile(std::mt19937_64& rng, int64_t q, int64_t t, at::ScalarType dtype) {
  at::Tensor tile = at::empty({q, t});
  float* v = tile.data_ptr<float>();
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> oneIn(0, 999);
  for (int64_t i = 0; i < q * t; ++i)
    v[i] = oneIn(rng) == 0 ? -INFINITY : std::round(normal(rng) * 32.0f) / 32.0f;
  return tile.to(dtype);
}

void expectWindow(const at::Tensor& scores, int64_t keep, const std::string& where) {
  auto [values, columns] = tileWindow(scores, keep);
  ASSERT_EQ(values.sizes(), (at::IntArrayRef{scores.size(0), keep})) << where;
  ASSERT_EQ(columns.sizes(), values.sizes()) << where;
  ASSERT_EQ(values.scalar_type(), scores.scalar_type()) << where;
  const at::Tensor want = std::get<0>(scores.topk(keep, 1, true, true));
  EXPECT_TRUE(at::equal(std::get<0>(values.sort(1, true)), want)) << where << ": other values";
  EXPECT_TRUE(at::equal(scores.gather(1, columns), values)) << where << ": columns";
  EXPECT_TRUE(columns.ge(0).all().item<bool>() && columns.lt(scores.size(1)).all().item<bool>())
      << where << ": a column out of range";
  const at::Tensor sorted = std::get<0>(columns.sort(1));
  EXPECT_TRUE(keep < 2 || sorted.diff(1, 1).gt(0).all().item<bool>())
      << where << ": a column twice";
}

TEST(TileWindow, EqualsTopkOnRandomTiles) {
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t keep = std::uniform_int_distribution<int64_t>(1, 100)(rng);
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 6)(rng);
    // From just under the two-stage path's minimum (4 * keep whole groups) to 4x over it,
    // with a tail of up to a group less one after the last whole group.
    const int64_t t =
        std::uniform_int_distribution<int64_t>(keep, 16 * keep)(rng) * kTileWindowGroup +
        std::uniform_int_distribution<int64_t>(0, kTileWindowGroup - 1)(rng);
    const at::ScalarType dtype = seed % 2 ? at::kFloat : at::kBFloat16;
    const at::Tensor tile = randomTile(rng, q, t, dtype);
    expectWindow(tile, keep,
                 "seed=" + std::to_string(seed) + " keep=" + std::to_string(keep) +
                     " q=" + std::to_string(q) + " t=" + std::to_string(t));
  }
}

TEST(TileWindow, FindsTheBestCrowdedInOneGroupOrInTheTail) {
  std::mt19937_64 rng(99);
  const int64_t keep = 40, tailWidth = kTileWindowGroup - 5;
  const int64_t t = 8 * keep * kTileWindowGroup + tailWidth;
  at::Tensor tile = randomTile(rng, 3, t, at::kFloat);
  // Row 0: the best `keep` side by side from group 5 on (two groups hold them); row 1: the best
  // `tailWidth` in the columns after the last whole group; row 2: half in group 9, half in that
  // tail.
  const int64_t tail = t - tailWidth;
  for (int64_t j = 0; j < keep; ++j) {
    const float best = 100.0f + static_cast<float>(j);
    tile[0][5 * kTileWindowGroup + j] = best;
    if (j < tailWidth) tile[1][tail + j] = best;
    tile[2][j % 2 ? 9 * kTileWindowGroup + j / 2 : tail + j / 2] = best;
  }
  expectWindow(tile, keep, "planted");
  auto [values, columns] = tileWindow(tile, keep);
  EXPECT_EQ(values[1].ge(100.0f).sum().item<int64_t>(), tailWidth) << "the tail's planted scores";
}

TEST(TileWindow, EveryScoreTied) {
  const at::Tensor tile = at::full({2, 6 * 10 * kTileWindowGroup}, 0.25f);
  expectWindow(tile, 10, "all equal");
}

}  // namespace
}  // namespace eleanor
