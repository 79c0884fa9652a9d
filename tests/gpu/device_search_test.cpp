// The shard index on a GPU gives exactly the CPU index's answer (same rows, same double
// scores) for every storage: float32, bfloat16, float16, int8, resident or offloaded to
// pinned host memory; and a CUDA out-of-memory halves the block and loses no query.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>

#include "common/error.h"
#include "tests/support/search_reference.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/shard_index.h"
#include "worker/torch_info.h"

namespace eleanor {
namespace {

using reference::clustered;
using reference::randomMatrix;

struct Storage {
  const char* name;
  std::string dtype;
  bool int8;
  bool offload;
};

class DeviceSearch : public ::testing::TestWithParam<Storage> {};

TEST_P(DeviceSearch, EqualsTheCpuIndexExactly) {
  const Storage storage = GetParam();
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 20000)(rng);
    const int64_t d = std::uniform_int_distribution<int64_t>(8, 384)(rng);
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 300)(rng);
    const int k = std::uniform_int_distribution<int>(1, 100)(rng);
    const Matrix shard = clustered(rng, n, d);
    Matrix queries = clustered(rng, q, d);
    normalizeRows(queries);

    SearchOptions cpu;
    std::vector<Candidate> expected, got;
    makeShardIndex(shard, 1000, cpu)->search(queries, k, expected);

    SearchOptions gpu;
    gpu.cudaDevice = 0;
    gpu.dtype = storage.dtype;
    gpu.int8 = storage.int8;
    gpu.offloadToCpu = storage.offload;
    gpu.memoryBudgetBytes = std::uniform_int_distribution<int64_t>(1, 64)(rng) << 20;
    auto index = makeShardIndex(shard, 1000, gpu);
    index->search(queries, k, got);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].row, expected[i].row)
          << storage.name << " seed=" << seed << " n=" << n << " d=" << d << " q=" << q
          << " k=" << k << " slot " << i;
      ASSERT_EQ(got[i].score, expected[i].score) << storage.name << " seed=" << seed;
    }
    const SearchStats stats = index->stats();
    EXPECT_EQ(stats.queries, q);
    RecordProperty(std::string("rescanned_") + std::to_string(seed),
                   std::to_string(stats.rescannedQueries));
    RecordProperty(
        std::string("matrix_tiles_above_floors_") + std::to_string(seed),
        std::to_string(stats.matrixTilesAboveFloors) + " of " + std::to_string(stats.matrixTiles));
  }
}

INSTANTIATE_TEST_SUITE_P(Storages, DeviceSearch,
                         ::testing::Values(Storage{"float32", "float32", false, false},
                                           Storage{"bfloat16", "bfloat16", false, false},
                                           Storage{"float16", "float16", false, false},
                                           Storage{"int8", "bfloat16", true, false},
                                           Storage{"bfloat16_offloaded", "bfloat16", false, true},
                                           Storage{"int8_offloaded", "bfloat16", true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// Searches `queries` with all but ~600 MiB of the GPU held (holdCudaMemory: cuBLAS started
// first, as a job's first search would have), so that the allocator runs out; returns the
// index's out-of-memory backoffs. The hold ends with this call, even when the search throws.
int64_t searchSqueezed(const Matrix& shard, const Matrix& queries, const std::string& kernel,
                       std::vector<Candidate>& got) {
  SearchOptions gpu;
  gpu.cudaDevice = 0;
  gpu.dtype = "bfloat16";
  gpu.kernel = kernel;
  gpu.memoryBudgetBytes = 8LL << 30;  // asks for far more than is left below
  auto index = makeShardIndex(shard, 0, gpu);
  size_t free = 0, total = 0;
  EXPECT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  const int64_t keep = int64_t{600} << 20;
  {
    int64_t taken = 0;
    const std::shared_ptr<void> hold = holdCudaMemory(0, keep, taken);
    EXPECT_GT(taken, 0) << "nothing could be held of " << (free >> 20) << " MiB free";
    index->search(queries, 10, got);
  }
  // The held bytes went back to the device, not into LibTorch's cache, where NCCL and the next
  // tests' streams could not have them (the H200 run of 2026-11-27 saw 13 MiB free after).
  size_t freeAfter = 0;
  EXPECT_EQ(cudaMemGetInfo(&freeAfter, &total), cudaSuccess);
  EXPECT_GT(freeAfter + (size_t{2} << 30), free)
      << (freeAfter >> 20) << " MiB free after the hold, " << (free >> 20) << " before";
  return index->stats().outOfMemoryBackoffs;
}

// The matrix path's score tiles do not fit: the block is halved until they do.
TEST(DeviceSearchMemory, OutOfMemoryHalvesTheBlockAndLosesNoQuery) {
  std::mt19937_64 rng(7);
  const Matrix shard = randomMatrix(rng, 200000, 128);
  Matrix queries = randomMatrix(rng, 4096, 128);
  normalizeRows(queries);
  std::vector<Candidate> expected, got;
  makeShardIndex(shard, 0, {})->search(queries, 10, expected);
  {
    // Tiles of the whole budget: with the floors (the default) the matrix path's tiles are at
    // most an eighth of the shard, 205 MB here, which would fit.
    setenv("ELEANOR_MATMUL_FLOORS", "0", 1);
    const std::shared_ptr<void> unset(nullptr, [](void*) { unsetenv("ELEANOR_MATMUL_FLOORS"); });
    EXPECT_GT(searchSqueezed(shard, queries, "matmul", got), 0) << "the budget should not have fit";
  }
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].row, expected[i].row) << i;
  // The fused kernel (the default) keeps no score matrix: the same squeeze, the same answer.
  got.clear();
  searchSqueezed(shard, queries, "fused", got);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].row, expected[i].row) << i;
}

TEST(DeviceSearchMemory, ShardOverTheCapIsAClearError) {
  std::mt19937_64 rng(8);
  SearchOptions gpu;
  gpu.cudaDevice = 0;
  gpu.dtype = "float32";
  gpu.memoryCapBytes = 1 << 20;  // 1 MiB: a 4 MiB shard cannot fit
  try {
    makeShardIndex(randomMatrix(rng, 8192, 128), 0, gpu);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("max_memory_per_gpu"), std::string::npos) << e.what();
  }
  gpu.int8 = true;          // 4x smaller: 1 MiB + scales ... still too big for 1 MiB
  gpu.offloadToCpu = true;  // offloaded shards live in host memory: no cap on the GPU
  EXPECT_NO_THROW(makeShardIndex(randomMatrix(rng, 8192, 128), 0, gpu));
}

}  // namespace
}  // namespace eleanor
