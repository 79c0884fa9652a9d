// tileWindow (the matrix path's window per query) against LibTorch's own topk on seeded random
// tiles: the same values (the `keep` largest of each row, ties at the edge included), columns
// that hold those values, none twice; with the best scores crowded into one group, hidden in
// the columns after the last whole group, tied, -inf, and in float32 and bfloat16. And
// scoresAboveFloors (the window of every tile after the first) against a loop over every score.
#include "worker/retrieval/tile_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

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

// Every (column, score) above the row's floor, by a loop over the tile: the reference.
std::vector<std::set<std::pair<int64_t, float>>> aboveByLoop(const at::Tensor& scores,
                                                             const at::Tensor& floors) {
  const at::Tensor s = scores.to(at::kFloat).contiguous(), f = floors.to(at::kFloat).contiguous();
  std::vector<std::set<std::pair<int64_t, float>>> rows(s.size(0));
  for (int64_t r = 0; r < s.size(0); ++r)
    for (int64_t c = 0; c < s.size(1); ++c)
      if (s[r][c].item<float>() > f[r][0].item<float>()) rows[r].insert({c, s[r][c].item<float>()});
  return rows;
}

// The rows' `keep`-th largest (a running window's lowest), some rows lowered or raised.
at::Tensor floorsFor(std::mt19937_64& rng, const at::Tensor& scores, int64_t keep) {
  at::Tensor floors = std::get<0>(scores.topk(keep, 1, true, false)).amin(1, true);
  std::uniform_int_distribution<int> pick(0, 5);
  for (int64_t r = 0; r < floors.size(0); ++r) {
    const int choice = pick(rng);
    if (choice == 0) floors[r][0] = -INFINITY;  // every finite score is above it
    if (choice == 1) floors[r][0] = 1e6f;       // none
  }
  return floors;
}

void expectAbove(const at::Tensor& scores, const at::Tensor& floors, const std::string& where) {
  const auto want = aboveByLoop(scores, floors);
  size_t widest = 0;
  for (const auto& row : want) widest = std::max(widest, row.size());
  const auto got = scoresAboveFloors(scores, floors, static_cast<int64_t>(widest));
  ASSERT_TRUE(got.has_value()) << where;
  const auto& [values, columns] = *got;
  ASSERT_EQ(values.sizes(), (at::IntArrayRef{scores.size(0), static_cast<int64_t>(widest)}))
      << where;
  ASSERT_EQ(columns.sizes(), values.sizes()) << where;
  ASSERT_EQ(values.scalar_type(), scores.scalar_type()) << where;
  const at::Tensor v = values.to(at::kFloat);
  for (int64_t r = 0; r < scores.size(0); ++r) {
    std::set<std::pair<int64_t, float>> row;
    for (int64_t i = 0; i < v.size(1); ++i) {
      const float value = v[r][i].item<float>();
      if (value == -INFINITY) continue;  // padding (a -inf score is never above a floor)
      EXPECT_TRUE(row.insert({columns[r][i].item<int64_t>(), value}).second)
          << where << " row " << r << ": a column twice";
    }
    EXPECT_EQ(row, want[r]) << where << " row " << r;
  }
  if (widest > 0) {
    EXPECT_FALSE(scoresAboveFloors(scores, floors, static_cast<int64_t>(widest) - 1))
        << where << ": a row over the limit must give nullopt";
  }
}

TEST(ScoresAboveFloors, EqualTheLoopOnRandomTiles) {
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t keep = std::uniform_int_distribution<int64_t>(1, 60)(rng);
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 7)(rng);
    const int64_t t = std::uniform_int_distribution<int64_t>(2, 40)(rng) * kTileWindowGroup;
    const at::ScalarType dtype = seed % 2 ? at::kFloat : at::kBFloat16;
    const at::Tensor tile = randomTile(rng, q, t, dtype);
    // Floors from another tile, as a running window's are: a few or many scores above them.
    const at::Tensor floors = floorsFor(rng, randomTile(rng, q, t, dtype), std::min(keep, t));
    expectAbove(tile, floors,
                "seed=" + std::to_string(seed) + " keep=" + std::to_string(keep) +
                    " q=" + std::to_string(q) + " t=" + std::to_string(t));
  }
}

TEST(ScoresAboveFloors, TiesAtTheFloorAreLeftOutAndGroupsFillWhole) {
  // Row 0: every score equals the floor (none above); row 1: a whole group and the last
  // column above it; row 2: one score above it, in the first column.
  at::Tensor tile = at::full({3, 4 * kTileWindowGroup}, 0.5f);
  at::Tensor floors = at::full({3, 1}, 0.5f);
  for (int64_t c = 2 * kTileWindowGroup; c < 3 * kTileWindowGroup; ++c) tile[1][c] = 0.75f;
  tile[1][4 * kTileWindowGroup - 1] = 1.0f;
  tile[2][0] = 0.625f;
  expectAbove(tile, floors, "planted");
  const auto got = scoresAboveFloors(tile, floors, 1000);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::get<0>(*got).size(1), kTileWindowGroup + 1);
  // Every group above every floor: more than the limit, said before any group is read again.
  EXPECT_FALSE(scoresAboveFloors(tile, at::full({3, 1}, -1.0f), 2));
}

TEST(ScoresAboveFloors, TilesOfPartGroupsAreLeftToTileWindow) {
  const at::Tensor tile = at::zeros({2, 3 * kTileWindowGroup + 1});
  EXPECT_FALSE(scoresAboveFloors(tile, at::full({2, 1}, -1.0f), 1 << 20));
}

}  // namespace
}  // namespace eleanor
