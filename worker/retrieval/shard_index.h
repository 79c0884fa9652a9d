// ShardIndex: exact top-k of queries against this rank's contiguous shard of the precedents,
// on the CPU or on a GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/matrix.h"
#include "worker/retrieval/candidate.h"

namespace eleanor {

struct SearchOptions {
  int64_t memoryBudgetBytes = 256LL << 20;  // bound on the score tiles in flight
  int threads = 0;                          // rescoring threads; 0: LibTorch's intra-op count
  // "fused": scores tiles and keeps a running top-k per query without materialising the
  // score matrix (the CPU blocked kernel; the CUDA kernel on a GPU). "matmul": tiled matrix
  // products and topk (LibTorch). "auto": the fused kernel wherever it applies.
  std::string kernel = "auto";
  // The CPU fused index scores in float32 (OpenBLAS) or bfloat16 (oneDNN; float32 sums), and
  // rescoring makes either exact. "auto": bfloat16 where the CPU has AMX or AVX512-BF16.
  std::string cpuDtype = "auto";

  // GPU placement (cudaDevice < 0: the CPU, float32). On a GPU the shard is held in `dtype`
  // (bfloat16 | float16 | float32), or as int8 with a per-row scale; `offloadToCpu` keeps it in
  // pinned host memory and streams tiles through the GPU, the copy of the next tile on one of
  // `numStreams` copy streams while this one is scored (`prefetch`).
  int cudaDevice = -1;
  std::string dtype = "float32";
  bool int8 = false;
  bool offloadToCpu = false;
  int numStreams = 2;
  bool prefetch = true;
  bool allowTf32 = false;
  int64_t memoryCapBytes = 0;  // gpu.memory.max_memory_per_gpu; 0 = none
  int maxQueryBlock = 4096;    // queries scored together; halved on CUDA out-of-memory ...
  int minQueryBlock = 1;       // ... down to this (gpu.batch.min_batch_size)
  // Tests: the matmul index on the CPU holds and scores the shard in `dtype` (bfloat16) or
  // int8 as a GPU does, so that CI checks that arithmetic's error bound without a GPU.
  bool narrowOnCpu = false;
};

struct SearchStats {
  int64_t queries = 0;
  int64_t rescannedQueries = 0;  // windows that could not be proven complete
  int64_t rescoredRows = 0;
  double rescoreSeconds = 0;  // the exact double rescoring, on the host (exact_topk.h)
  double windowSeconds = 0;   // LibTorch index: scoring to the windows on the host, copies included
  double boundsSeconds = 0;   // LibTorch index: the queries' error bounds (exact_topk.h), on the
                              // host while a GPU scores (so also within windowSeconds)
  double exactSeconds = 0;    // LibTorch index: windows to exact answers (rescoring, rescans)
  // Matrix path: score tiles, and those whose window came from the scores above the running
  // windows' floors (tile_window.h's scoresAboveFloors) rather than from tileWindow.
  int64_t matrixTiles = 0;
  int64_t matrixTilesAboveFloors = 0;
  int64_t outOfMemoryBackoffs = 0;  // query block halvings after CUDA out-of-memory
  int64_t smallestQueryBlock = 0;
  int64_t storageBytes = 0;  // the shard as held (device or pinned host)
  // "cpu float32 fused", "cpu bfloat16 matmul", "cuda:0 int8 offloaded"; on a GPU, after a
  // search, with the path that served its last block: "cuda:0 bfloat16 fused sm90-registers"
  // (the CUDA scan kernel), "cuda:0 int8 matmul".
  std::string placement;
};

class ShardIndex {
 public:
  virtual ~ShardIndex() = default;
  virtual int64_t rows() const = 0;
  virtual int64_t dim() const = 0;
  virtual int64_t rowOffset() const = 0;  // global row of local row 0

  // For each query row (unit length, dim() columns), the best k shard rows by cosine
  // similarity: `out` becomes Q × k, row-major, each list best first by (score desc, global
  // row asc), slots past the shard's size empty (row -1). Scores are the exact double dot
  // products of the stored (normalised) float32 vectors, so the same pair scores the same on
  // any rank, device, dtype, tile size or W; any k >= 1 is allowed.
  virtual void search(const Matrix& queries, int k, std::vector<Candidate>& out) = 0;
  virtual SearchStats stats() const = 0;
};

// The index for `options` (CPU when options.cudaDevice < 0). Rows of `shard` are normalised
// here. Throws UserError when the shard does not fit options.memoryCapBytes.
std::unique_ptr<ShardIndex> makeShardIndex(Matrix shard, int64_t rowOffset, SearchOptions options);

inline std::unique_ptr<ShardIndex> makeCpuShardIndex(Matrix shard, int64_t rowOffset,
                                                     SearchOptions options) {
  options.cudaDevice = -1;
  return makeShardIndex(std::move(shard), rowOffset, options);
}

}  // namespace eleanor
