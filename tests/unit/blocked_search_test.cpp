// The fused (blocked) CPU index: equal to a brute-force double-precision top-k and to the
// LibTorch matmul index, bit for bit, on seeded random data of random shapes: k above the
// shard size, shards shorter than a tile, many tiles and query blocks, duplicate rows (ties),
// clusters of near-duplicates, a window past its cap (scanned again), zero rows and zero
// queries; scoring in float32 and in bfloat16 (search.cpu_dtype), which the rescoring makes
// exact just the same.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "common/cpu_features.h"
#include "tests/support/search_reference.h"
#include "worker/retrieval/blocked_cpu_index.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {
namespace {

struct Case {
  uint64_t seed = 0;
  int64_t n = 0, d = 0, q = 0;
  int k = 0;
  int64_t budget = 0;
  int threads = 0;
  int queryBlock = 0;
  bool duplicates = false;
  Matrix shard, queries;

  std::string describe() const {
    return "seed=" + std::to_string(seed) + " n=" + std::to_string(n) + " d=" + std::to_string(d) +
           " q=" + std::to_string(q) + " k=" + std::to_string(k) +
           " budget=" + std::to_string(budget) + " threads=" + std::to_string(threads) +
           " queryBlock=" + std::to_string(queryBlock) +
           " duplicates=" + std::to_string(duplicates);
  }
};

Case randomCase(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Case c;
  c.seed = seed;
  c.n = std::uniform_int_distribution<int64_t>(1, 2500)(rng);
  c.d = std::uniform_int_distribution<int64_t>(1, 80)(rng);
  c.q = std::uniform_int_distribution<int64_t>(1, 50)(rng);
  // k above the shard size now and then: the extra slots stay empty.
  c.k = std::uniform_int_distribution<int>(1, seed % 5 == 0 ? static_cast<int>(c.n) + 20 : 60)(rng);
  // Small budgets force many short tiles; the default one a single tile longer than the shard.
  c.budget = seed % 3 == 0 ? SearchOptions{}.memoryBudgetBytes
                           : std::uniform_int_distribution<int64_t>(1, 64)(rng) * 1024;
  c.threads = std::uniform_int_distribution<int>(1, 3)(rng);
  c.queryBlock = std::uniform_int_distribution<int>(1, 80)(rng);
  c.duplicates = seed % 2 == 0;
  c.shard = c.duplicates
                ? reference::matrixWithDuplicates(rng, c.n, c.d, std::max<int64_t>(1, c.n / 40))
                : reference::randomMatrix(rng, c.n, c.d);
  c.queries = reference::randomMatrix(rng, c.q, c.d);
  std::uniform_int_distribution<int64_t> anyRow(0, c.n - 1);
  for (int64_t i = 0; i < c.n / 50; ++i) {  // zero rows score 0 against every query
    const auto row = c.shard.row(anyRow(rng));
    std::fill(row.begin(), row.end(), 0.0f);
  }
  for (int64_t i = 0; i < c.q; i += 3) {  // queries equal to shard rows: exact ties at the top
    const auto src = c.shard.row(anyRow(rng));
    std::copy(src.begin(), src.end(), c.queries.row(i).begin());
  }
  if (c.q > 1) std::fill(c.queries.row(1).begin(), c.queries.row(1).end(), 0.0f);
  normalizeRows(c.queries);
  return c;
}

SearchOptions optionsFor(const Case& c, const std::string& kernel,
                         const std::string& cpuDtype = "float32") {
  SearchOptions options;
  options.kernel = kernel;
  options.cpuDtype = cpuDtype;
  options.memoryBudgetBytes = c.budget;
  options.threads = c.threads;
  options.maxQueryBlock = c.queryBlock;
  return options;
}

void expectEqualsReference(const Case& c, const std::vector<Candidate>& out) {
  Matrix normalized = c.shard;
  normalizeRows(normalized);
  const int64_t offset = static_cast<int64_t>(c.seed) * 1000;
  ASSERT_EQ(out.size(), static_cast<size_t>(c.q * c.k)) << c.describe();
  for (int64_t i = 0; i < c.q; ++i) {
    const auto expected =
        reference::referenceTopK(normalized, c.queries.row(i).data(), c.k, offset);
    for (int j = 0; j < c.k; ++j) {
      const Candidate& got = out[i * c.k + j];
      if (j >= static_cast<int>(expected.size())) {
        ASSERT_TRUE(got.empty()) << c.describe() << " query " << i << " slot " << j;
        continue;
      }
      ASSERT_EQ(got.row, expected[j].row) << c.describe() << " query " << i << " rank " << j;
      ASSERT_EQ(got.score, expected[j].score) << c.describe() << " query " << i << " rank " << j;
    }
  }
}

// The CPU dtype the fused index scores in.
class BlockedSearch : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(CpuDtype, BlockedSearch, ::testing::Values("float32", "bfloat16"),
                         [](const auto& info) { return info.param; });

TEST_P(BlockedSearch, MatchesBruteForceAndTheMatmulIndexOnRandomShapes) {
  int64_t rescanned = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const Case c = randomCase(seed);
    const int64_t offset = static_cast<int64_t>(seed) * 1000;
    const auto fused = makeCpuShardIndex(c.shard, offset, optionsFor(c, "fused", GetParam()));
    ASSERT_EQ(fused->stats().placement, "cpu " + GetParam() + " fused");
    const auto matmul = makeCpuShardIndex(c.shard, offset, optionsFor(c, "matmul"));
    std::vector<Candidate> got, expected;
    fused->search(c.queries, c.k, got);
    matmul->search(c.queries, c.k, expected);
    expectEqualsReference(c, got);
    if (HasFatalFailure()) return;
    ASSERT_EQ(got.size(), expected.size()) << c.describe();
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].row, expected[i].row) << c.describe() << " slot " << i;
      ASSERT_EQ(got[i].score, expected[i].score) << c.describe() << " slot " << i;
    }
    rescanned += fused->stats().rescannedQueries;
  }
  // Each window holds every row at or above the floor of its k-th, duplicates and all: none had to
  // be scanned again (the cut of an overlong window is tested below).
  EXPECT_EQ(rescanned, 0);
}

TEST_P(BlockedSearch, RepeatedSearchesAndQueryBlocksAgree) {
  // One index, searched twice with different k, and split into single-query searches.
  const Case c = randomCase(1001);
  const auto index = makeBlockedCpuShardIndex(c.shard, 0, optionsFor(c, "fused", GetParam()));
  std::vector<Candidate> all, one;
  index->search(c.queries, c.k, all);
  index->search(c.queries, c.k, all);
  for (int64_t i = 0; i < c.q; ++i) {
    Matrix query(1, c.d);
    std::copy(c.queries.row(i).begin(), c.queries.row(i).end(), query.row(0).begin());
    index->search(query, c.k, one);
    for (int j = 0; j < c.k; ++j) {
      EXPECT_EQ(one[j].row, all[i * c.k + j].row) << c.describe() << " query " << i;
      EXPECT_EQ(one[j].score, all[i * c.k + j].score) << c.describe() << " query " << i;
    }
  }
  EXPECT_EQ(index->stats().queries, 3 * c.q);
}

TEST_P(BlockedSearch, ANaNQueryLeavesTheOtherQueriesExact) {
  // The window of a query whose scores are all NaN still fills (as -inf) and yields no rows;
  // the queries around it are answered as usual.
  Case c = randomCase(7);
  ASSERT_GT(c.q, 2) << c.describe();
  std::fill(c.queries.row(2).begin(), c.queries.row(2).end(), std::nanf(""));
  const auto index = makeBlockedCpuShardIndex(c.shard, 0, optionsFor(c, "fused", GetParam()));
  std::vector<Candidate> got;
  index->search(c.queries, c.k, got);
  ASSERT_EQ(got.size(), static_cast<size_t>(c.q * c.k));
  Matrix normalized = c.shard;
  normalizeRows(normalized);
  for (int64_t i = 0; i < c.q; ++i) {
    if (i == 2) continue;
    const auto expected = reference::referenceTopK(normalized, c.queries.row(i).data(), c.k, 0);
    for (size_t j = 0; j < expected.size(); ++j) {
      EXPECT_EQ(got[i * c.k + j].row, expected[j].row) << c.describe() << " query " << i;
      EXPECT_EQ(got[i * c.k + j].score, expected[j].score) << c.describe() << " query " << i;
    }
  }
  for (int j = 0; j < c.k; ++j) EXPECT_LT(got[2 * c.k + j].row, 0) << "slot " << j;
}

// Searches `queries` (unit rows) in a new fused index over `shard` (rows from `offset`,
// scored in `cpuDtype`) and checks every list against the brute-force reference; `index` is
// left for its stats.
void searchExactly(const Matrix& shard, const Matrix& queries, int k, int64_t offset,
                   const std::string& cpuDtype, std::unique_ptr<ShardIndex>& index) {
  SearchOptions options;
  options.cpuDtype = cpuDtype;
  index = makeCpuShardIndex(shard, offset, options);
  std::vector<Candidate> got;
  index->search(queries, k, got);
  Matrix normalized = shard;
  normalizeRows(normalized);
  for (int64_t i = 0; i < queries.rows; ++i) {
    const auto expected = reference::referenceTopK(normalized, queries.row(i).data(), k, offset);
    for (int j = 0; j < k; ++j) {
      ASSERT_EQ(got[i * k + j].row, expected[j].row) << "query " << i << " rank " << j;
      ASSERT_EQ(got[i * k + j].score, expected[j].score) << "query " << i << " rank " << j;
    }
  }
}

TEST_P(BlockedSearch, ClustersOfNearDuplicatesNeedNoSecondPass) {
  // 30 clusters of 80 near-identical rows (closer than either dtype's eps), queries near the
  // cluster centres: a fixed-length window would be too short to prove these top-k lists; the
  // windows hold the whole clusters, and no query is scanned again.
  std::mt19937_64 rng(99);
  const int64_t clusters = 30, size = 80, d = 24;
  const Matrix centres = reference::randomMatrix(rng, clusters, d);
  std::normal_distribution<float> tiny(0.0f, 1e-6f);
  Matrix shard(clusters * size, d);
  for (int64_t r = 0; r < shard.rows; ++r)
    for (int64_t j = 0; j < d; ++j) shard.row(r)[j] = centres.row(r % clusters)[j] + tiny(rng);
  Matrix queries(64, d);
  std::normal_distribution<float> near(0.0f, 0.05f);
  for (int64_t i = 0; i < queries.rows; ++i)
    for (int64_t j = 0; j < d; ++j) queries.row(i)[j] = centres.row(i % clusters)[j] + near(rng);
  normalizeRows(queries);
  std::unique_ptr<ShardIndex> index;
  searchExactly(shard, queries, 5, 0, GetParam(), index);
  if (HasFatalFailure()) return;
  EXPECT_EQ(index->stats().rescannedQueries, 0);
  EXPECT_GE(index->stats().rescoredRows, queries.rows * (size - 5)) << "the clusters were rescored";
}

TEST_P(BlockedSearch, AWindowPastItsCapIsCutAndItsQueryScannedAgain) {
  // 5,000 copies of one row (past the 4,096-row cap of a window: all tie with the k-th) and
  // a few others: the window is cut, the query scanned again, and the answer is still the
  // exact one, ties broken by row.
  std::mt19937_64 rng(5);
  const int64_t copies = 5000, others = 50, d = 8;
  Matrix shard = reference::randomMatrix(rng, copies + others, d);
  for (int64_t r = 1; r < copies; ++r)
    std::copy(shard.row(0).begin(), shard.row(0).end(), shard.row(r).begin());
  Matrix queries(3, d);
  std::copy(shard.row(0).begin(), shard.row(0).end(), queries.row(0).begin());
  const Matrix others3 = reference::randomMatrix(rng, 2, d);
  std::copy(others3.values.begin(), others3.values.end(), queries.row(1).begin());
  normalizeRows(queries);
  std::unique_ptr<ShardIndex> index;
  searchExactly(shard, queries, 4, 7, GetParam(), index);
  if (HasFatalFailure()) return;
  EXPECT_GE(index->stats().rescannedQueries, 1) << "no window reached its cap";
}

TEST(BlockedSearchOptions, AutoTakesBfloat16WhereItIsFastAndItsCopyFits) {
  std::string why;
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(chooseCpuDtype("auto", true, 1 * kGiB, 8 * kGiB, why), "bfloat16");
  EXPECT_EQ(why, "");
  EXPECT_EQ(chooseCpuDtype("auto", true, 1 * kGiB, -1, why), "bfloat16") << "unknown memory";
  EXPECT_EQ(chooseCpuDtype("auto", false, 1 * kGiB, 8 * kGiB, why), "float32") << "no AMX";
  EXPECT_EQ(why, "");
  // A copy of more than half of what is available: float32, saying why.
  EXPECT_EQ(chooseCpuDtype("auto", true, 5 * kGiB, 8 * kGiB, why), "float32");
  EXPECT_NE(why.find("bfloat16 copy of this rank's shard (5.00 GiB)"), std::string::npos) << why;
  EXPECT_NE(why.find("memory available to it (8.00 GiB"), std::string::npos) << why;
  EXPECT_NE(why.find("set search.cpu_dtype: bfloat16"), std::string::npos) << why;
  // What the user set is kept.
  EXPECT_EQ(chooseCpuDtype("bfloat16", false, 5 * kGiB, 8 * kGiB, why), "bfloat16");
  EXPECT_EQ(why, "");
  EXPECT_EQ(chooseCpuDtype("float32", true, 1, 8 * kGiB, why), "float32");
}

TEST(BlockedSearchOptions, KernelAndDtypeChooseTheIndex) {
  const Matrix shard(4, 3);
  SearchOptions options;
  // auto: bfloat16 where AMX or AVX512-BF16 runs it, float32 elsewhere.
  const std::string automatic = bf16ProductsFast() ? "cpu bfloat16 fused" : "cpu float32 fused";
  EXPECT_EQ(makeCpuShardIndex(shard, 0, options)->stats().placement, automatic);
  options.kernel = "fused";
  EXPECT_EQ(makeCpuShardIndex(shard, 0, options)->stats().placement, automatic);
  options.cpuDtype = "float32";
  EXPECT_EQ(makeCpuShardIndex(shard, 0, options)->stats().placement, "cpu float32 fused");
  options.cpuDtype = "bfloat16";
  const auto bf16 = makeCpuShardIndex(shard, 0, options);
  EXPECT_EQ(bf16->stats().placement, "cpu bfloat16 fused");
  EXPECT_EQ(bf16->stats().storageBytes, 4 * 3 * (4 + 2)) << "float32 rows plus bfloat16 rows";
  options.kernel = "matmul";
  EXPECT_EQ(makeCpuShardIndex(shard, 0, options)->stats().placement, "cpu float32 matmul");
}

}  // namespace
}  // namespace eleanor
