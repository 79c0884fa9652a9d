// The GPU's arithmetic on the CPU: the matmul index holding its shard in bfloat16, or int8 with
// a per-row scale (options.narrowOnCpu; LibTorch's CPU has no float16 product), gives exactly
// the float32 index's answer on seeded random shapes of clustered rows with duplicates. This
// runs in CI the error bound (exact_topk.h's ScoreBound: measured rounding of queries and
// rows, scores rounded to bfloat16, int8's grid) and the fixed windows that the GPU index uses,
// which tests/gpu checks on the device itself.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/support/search_reference.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {
namespace {

struct Storage {
  const char* name;
  bool int8;
};

class NarrowMatmulSearch : public ::testing::TestWithParam<Storage> {};

// The matmul index holding its shard in bfloat16 (or int8), as a GPU would, on the CPU.
SearchOptions narrowMatmul(bool int8, int64_t budgetBytes) {
  SearchOptions narrow;
  narrow.kernel = "matmul";
  narrow.narrowOnCpu = true;
  narrow.dtype = "bfloat16";
  narrow.int8 = int8;
  narrow.memoryBudgetBytes = budgetBytes;
  return narrow;
}

void expectSameAnswer(const std::vector<Candidate>& got, const std::vector<Candidate>& expected,
                      const std::string& at) {
  ASSERT_EQ(got.size(), expected.size()) << at;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].row, expected[i].row) << at << " slot " << i;
    ASSERT_EQ(got[i].score, expected[i].score) << at << " slot " << i;
  }
}

TEST_P(NarrowMatmulSearch, EqualsTheFloat32IndexExactly) {
  const Storage storage = GetParam();
  int64_t rescanned = 0, queriesSeen = 0, tiles = 0, tilesAboveFloors = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 20000)(rng);
    const int64_t d = std::uniform_int_distribution<int64_t>(8, 384)(rng);
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 300)(rng);
    const int k = std::uniform_int_distribution<int>(1, 100)(rng);
    const Matrix shard =
        seed % 2 ? reference::clustered(rng, n, d) : reference::randomMatrix(rng, n, d);
    Matrix queries = reference::clustered(rng, q, d);
    normalizeRows(queries);
    const std::string at = std::string(storage.name) + " seed=" + std::to_string(seed) +
                           " n=" + std::to_string(n) + " d=" + std::to_string(d) +
                           " q=" + std::to_string(q) + " k=" + std::to_string(k);

    std::vector<Candidate> expected, got;
    makeCpuShardIndex(shard, 1000, {})->search(queries, k, expected);

    const auto index = makeCpuShardIndex(
        shard, 1000,
        narrowMatmul(storage.int8, std::uniform_int_distribution<int64_t>(1, 16)(rng) << 20));
    EXPECT_EQ(index->stats().placement, storage.int8 ? "cpu int8 matmul" : "cpu bfloat16 matmul");
    index->search(queries, k, got);
    expectSameAnswer(got, expected, at);
    if (HasFatalFailure()) return;
    rescanned += index->stats().rescannedQueries;
    queriesSeen += q;
    tiles += index->stats().matrixTiles;
    tilesAboveFloors += index->stats().matrixTilesAboveFloors;
  }
  RecordProperty("rescanned", std::to_string(rescanned) + " of " + std::to_string(queriesSeen));
  RecordProperty("tiles above floors",
                 std::to_string(tilesAboveFloors) + " of " + std::to_string(tiles));
  EXPECT_GT(tilesAboveFloors, 0) << "no tile after a first was served by the floors";
}

// Gaussian rows in many tiles: every tile after the first but the shard's last (part of a
// group of columns) is served by the scores above the floors, and the answer is exact.
TEST(NarrowMatmulFloors, GaussianRowsTakeTheFloorsAfterTheFirstTile) {
  std::mt19937_64 rng(12);
  const Matrix shard = reference::randomMatrix(rng, 30000, 64);
  Matrix queries = reference::randomMatrix(rng, 50, 64);
  normalizeRows(queries);
  for (const int k : {1, 10, 100}) {
    std::vector<Candidate> expected, got;
    makeCpuShardIndex(shard, 0, {})->search(queries, k, expected);
    // Tiles of some 1700 rows.
    const auto index = makeCpuShardIndex(shard, 0, narrowMatmul(false, 256 << 10));
    index->search(queries, k, got);
    expectSameAnswer(got, expected, "k=" + std::to_string(k));
    if (HasFatalFailure()) return;
    const SearchStats stats = index->stats();
    EXPECT_GE(stats.matrixTiles, 10) << "k=" << k;
    EXPECT_GE(stats.matrixTilesAboveFloors, stats.matrixTiles - 2) << "k=" << k;
  }
}

// A shard whose rows come ever closer to the queries: every tile's scores beat the window
// so far, so past the limit (4 x the window) the tile is taken by tileWindow, and the answer is
// the float32 index's either way.
TEST(NarrowMatmulFloors, RowsThatImproveTileByTileFallBackToTileWindow) {
  std::mt19937_64 rng(11);
  const int64_t n = 30000, d = 64;
  Matrix shard = reference::randomMatrix(rng, n, d);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 1; c < d; ++c) shard.row(r)[c] *= 0.05f;
    shard.row(r)[0] = static_cast<float>(r + 1) / n;
  }
  normalizeRows(shard);
  Matrix queries(8, d);
  for (int64_t i = 0; i < queries.rows; ++i) queries.row(i)[0] = 1.0f;
  std::vector<Candidate> expected, got;
  makeCpuShardIndex(shard, 0, {})->search(queries, 10, expected);

  // Tiles of some 2700 rows.
  const auto index = makeCpuShardIndex(shard, 0, narrowMatmul(false, 64 << 10));
  index->search(queries, 10, got);
  expectSameAnswer(got, expected, "improving rows");
  if (HasFatalFailure()) return;
  const SearchStats stats = index->stats();
  EXPECT_GE(stats.matrixTiles, 10);
  EXPECT_LT(stats.matrixTilesAboveFloors, stats.matrixTiles / 2)
      << "rows that beat every floor must not be compacted tile after tile";
}

// Where int8's error bound leaves most windows unproven (Gaussian rows: many close
// neighbours), the matrix path widens its window for the next searches instead of scanning
// the shard again for most queries; every answer stays the float32 index's.
TEST(NarrowMatmulWindow, WidensWhereWindowsCannotBeProvenComplete) {
  std::mt19937_64 rng(5);
  const Matrix shard = reference::randomMatrix(rng, 40000, 256);
  Matrix queries = reference::randomMatrix(rng, 128, 256);
  normalizeRows(queries);
  std::vector<Candidate> expected;
  makeCpuShardIndex(shard, 0, {})->search(queries, 10, expected);

  const auto index =
      makeCpuShardIndex(shard, 0, narrowMatmul(true, SearchOptions{}.memoryBudgetBytes));
  std::vector<int64_t> rescans;
  for (int round = 0; round < 5; ++round) {
    const int64_t before = index->stats().rescannedQueries;
    std::vector<Candidate> got;
    index->search(queries, 10, got);
    rescans.push_back(index->stats().rescannedQueries - before);
    expectSameAnswer(got, expected, "round " + std::to_string(round));
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(rescans.front() * 16, queries.rows) << "the first window should have been too narrow";
  EXPECT_LE(rescans.back() * 16, queries.rows) << "the later ones should be wide enough";
  EXPECT_EQ(rescans[rescans.size() - 2], rescans.back()) << "the window should have settled";
}

INSTANTIATE_TEST_SUITE_P(Storages, NarrowMatmulSearch,
                         ::testing::Values(Storage{"bfloat16", false}, Storage{"int8", true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace eleanor
