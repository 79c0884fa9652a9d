// Exact top-k: mergeTopK and the CPU ShardIndex against a brute-force double-precision
// reference on seeded random data of random shapes, ties included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "tests/support/search_reference.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/fused_topk.h"
#include "worker/retrieval/merge_topk.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {
namespace {

using reference::matrixWithDuplicates;
using reference::randomMatrix;
using reference::referenceTopK;

std::string describe(uint64_t seed, int64_t n, int64_t d, int64_t q, int k, int64_t budget) {
  return "seed=" + std::to_string(seed) + " n=" + std::to_string(n) + " d=" + std::to_string(d) +
         " q=" + std::to_string(q) + " k=" + std::to_string(k) +
         " budget=" + std::to_string(budget);
}

TEST(MergeTopK, TieBreakByRowAndEmptySlots) {
  const std::vector<Candidate> a{{0.9, 7}, {0.5, 3}, {}, {}};
  const std::vector<Candidate> b{{0.9, 2}, {0.5, 1}, {0.1, 4}, {}};
  const std::vector<std::span<const Candidate>> lists{a, b};
  const auto merged = mergeTopK(lists, 4);
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged[0].row, 2);
  EXPECT_EQ(merged[1].row, 7);
  EXPECT_EQ(merged[2].row, 1);
  EXPECT_EQ(merged[3].row, 3);
  EXPECT_EQ(mergeTopK(lists, 10).size(), 5u) << "empty slots must not be returned";
}

TEST(MergeTopK, EqualsSortOfUnionOnRandomLists) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    const int lists = std::uniform_int_distribution<int>(1, 8)(rng);
    const int k = std::uniform_int_distribution<int>(1, 20)(rng);
    std::vector<std::vector<Candidate>> data(lists);
    std::vector<Candidate> all;
    int64_t row = 0;
    for (auto& list : data) {
      const int size = std::uniform_int_distribution<int>(0, k)(rng);
      for (int i = 0; i < size; ++i) {
        // Scores on a coarse grid: many ties across lists.
        list.push_back({std::uniform_int_distribution<int>(0, 5)(rng) / 5.0, row});
        row += std::uniform_int_distribution<int>(1, 3)(rng);
      }
      std::sort(list.begin(), list.end(), ranksBefore);
      all.insert(all.end(), list.begin(), list.end());
      list.resize(static_cast<size_t>(k));  // pad with empty slots as shards do
    }
    std::sort(all.begin(), all.end(), ranksBefore);
    all.resize(std::min<size_t>(all.size(), static_cast<size_t>(k)));
    std::vector<std::span<const Candidate>> spans(data.begin(), data.end());
    const auto merged = mergeTopK(spans, k);
    ASSERT_EQ(merged.size(), all.size()) << "seed=" << seed;
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(merged[i].row, all[i].row) << "seed=" << seed << " i=" << i;
      EXPECT_EQ(merged[i].score, all[i].score) << "seed=" << seed << " i=" << i;
    }
  }
}

TEST(ExactDots, SameBitsAsOneSequentialSumPerRow) {
  // Values over many magnitudes, so that a sum in another order would round differently.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 30);
  const auto value = [&] { return std::ldexp(mantissa(rng), exponent(rng)); };
  int reordered = 0;
  for (const int64_t d : {1, 3, 8, 17, 384}) {
    Matrix shard(41, d);
    for (float& v : shard.values) v = value();
    std::vector<float> query(static_cast<size_t>(d));
    for (float& v : query) v = value();
    for (const int64_t count : {0, 1, 7, 8, 9, 16, 41}) {
      std::vector<int64_t> rows(static_cast<size_t>(count));
      for (auto& r : rows) r = std::uniform_int_distribution<int64_t>(0, shard.rows - 1)(rng);
      std::vector<double> out(rows.size());
      exactDots(query.data(), shard, rows, out.data());
      for (int64_t i = 0; i < count; ++i) {
        double sum = 0, backwards = 0;
        for (int64_t j = 0; j < d; ++j)
          sum += static_cast<double>(query[j]) * shard.values[rows[i] * d + j];
        for (int64_t j = d - 1; j >= 0; --j)
          backwards += static_cast<double>(query[j]) * shard.values[rows[i] * d + j];
        reordered += backwards != sum;
        EXPECT_EQ(out[i], sum) << "d=" << d << " count=" << count << " i=" << i;
      }
    }
  }
  EXPECT_GT(reordered, 0) << "the data must be able to tell the summation orders apart";
}

TEST(FusedWindow, WidestFirstWithinTheKernelsFastPath) {
  EXPECT_EQ(fusedWindowKeeps(1), (std::vector<int64_t>{64}));
  EXPECT_EQ(fusedWindowKeeps(40), (std::vector<int64_t>{128, 96}));
  EXPECT_EQ(fusedWindowKeeps(10), (std::vector<int64_t>{64}));  // 52 and 42 round to one
  EXPECT_EQ(fusedWindowKeeps(100), (std::vector<int64_t>{256, 160}));
  EXPECT_EQ(fusedWindowKeeps(113), (std::vector<int64_t>{160}));  // 2k + 32 = 258 is past 256
  EXPECT_EQ(fusedWindowKeeps(224), (std::vector<int64_t>{256}));
  EXPECT_TRUE(fusedWindowKeeps(225).empty());
  EXPECT_EQ(fusedWindowKeep(100), 256);
  EXPECT_EQ(fusedWindowKeep(225), 0);
  for (int k = 1; k <= 300; ++k) {
    for (const int64_t keep : fusedWindowKeeps(k)) {
      EXPECT_GE(keep, k + 32) << "k=" << k;
      EXPECT_LE(keep, kFusedTopKMaxKeep) << "k=" << k;
      EXPECT_EQ(keep % 32, 0) << "k=" << k;
    }
  }
}

TEST(ShardIndex, MatchesBruteForceOnRandomShapes) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 3000)(rng);
    const int64_t d = std::uniform_int_distribution<int64_t>(1, 96)(rng);
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    const int k = std::uniform_int_distribution<int>(1, 80)(rng);
    // Small budgets force many tiles; the result must not depend on them.
    const int64_t budget = std::uniform_int_distribution<int64_t>(1, 64)(rng) * 1024;
    const int64_t offset = std::uniform_int_distribution<int64_t>(0, 1000000)(rng);
    const bool duplicates = seed % 2 == 0;
    Matrix shard = duplicates ? matrixWithDuplicates(rng, n, d, std::max<int64_t>(1, n / 50))
                              : randomMatrix(rng, n, d);
    Matrix queries = randomMatrix(rng, q, d);
    if (duplicates && n > 0) {  // some queries equal to shard rows: exact ties at the top
      for (int64_t i = 0; i < q; i += 3) {
        const auto src = shard.row(i % n);
        std::copy(src.begin(), src.end(), queries.row(i).begin());
      }
    }
    normalizeRows(queries);
    Matrix normalized = shard;
    normalizeRows(normalized);

    SearchOptions options;
    options.memoryBudgetBytes = budget;
    const auto index = makeCpuShardIndex(shard, offset, options);
    std::vector<Candidate> out;
    index->search(queries, k, out);
    ASSERT_EQ(out.size(), static_cast<size_t>(q * k));
    for (int64_t i = 0; i < q; ++i) {
      const auto expected = referenceTopK(normalized, queries.row(i).data(), k, offset);
      for (int j = 0; j < k; ++j) {
        const Candidate& got = out[i * k + j];
        if (j >= static_cast<int>(expected.size())) {
          EXPECT_TRUE(got.empty()) << describe(seed, n, d, q, k, budget) << " slot " << j;
          continue;
        }
        ASSERT_EQ(got.row, expected[j].row)
            << describe(seed, n, d, q, k, budget) << " query " << i << " rank " << j;
        ASSERT_EQ(got.score, expected[j].score)
            << describe(seed, n, d, q, k, budget) << " query " << i << " rank " << j;
      }
    }
  }
}

TEST(ShardIndex, ShardedSearchMergesToTheWholeIndexAnswer) {
  // Split one corpus into W contiguous shards, search each, merge: same as one shard.
  for (uint64_t seed = 100; seed < 110; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t n = std::uniform_int_distribution<int64_t>(5, 2000)(rng);
    const int64_t d = 32;
    const int world = std::uniform_int_distribution<int>(2, 7)(rng);
    const int k = std::uniform_int_distribution<int>(1, 30)(rng);
    const Matrix corpus = matrixWithDuplicates(rng, n, d, std::max<int64_t>(2, n / 3));
    Matrix queries = randomMatrix(rng, 9, d);
    normalizeRows(queries);

    std::vector<Candidate> whole;
    makeCpuShardIndex(corpus, 0, {})->search(queries, k, whole);
    std::vector<std::vector<Candidate>> parts(world);
    for (int r = 0; r < world; ++r) {
      const int64_t begin = n * r / world, end = n * (r + 1) / world;
      Matrix shard(end - begin, d);
      std::copy(corpus.values.begin() + begin * d, corpus.values.begin() + end * d,
                shard.values.begin());
      makeCpuShardIndex(shard, begin, {})->search(queries, k, parts[r]);
    }
    for (int64_t i = 0; i < queries.rows; ++i) {
      std::vector<std::span<const Candidate>> lists;
      for (const auto& p : parts) lists.emplace_back(p.data() + i * k, static_cast<size_t>(k));
      const auto merged = mergeTopK(lists, k);
      for (size_t j = 0; j < merged.size(); ++j) {
        EXPECT_EQ(merged[j].row, whole[i * k + j].row) << "seed=" << seed << " W=" << world;
        EXPECT_EQ(merged[j].score, whole[i * k + j].score) << "seed=" << seed << " W=" << world;
      }
    }
  }
}

TEST(ShardIndex, EmptyShardAndZeroQuery) {
  std::vector<Candidate> out;
  Matrix queries(2, 4);
  queries.values = {1, 0, 0, 0, 0, 0, 0, 0};  // the second query has no direction
  makeCpuShardIndex(Matrix(0, 4), 10, {})->search(queries, 3, out);
  ASSERT_EQ(out.size(), 6u);
  for (const auto& c : out) EXPECT_TRUE(c.empty());

  Matrix shard(3, 4);
  shard.values = {0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  makeCpuShardIndex(shard, 0, {})->search(queries, 3, out);
  EXPECT_EQ(out[0].row, 1);
  EXPECT_DOUBLE_EQ(out[0].score, 1.0);
  // A zero query scores 0 against everything: ties broken by row.
  EXPECT_EQ(out[3].row, 0);
  EXPECT_EQ(out[4].row, 1);
  EXPECT_EQ(out[5].row, 2);
}

}  // namespace
}  // namespace eleanor
