// The fused CPU shard index: queries are scored against the shard in cache-sized tiles (a
// block of queries × a tile of shard rows, one sgemm each into a reused buffer), and each
// query keeps a bounded heap of its best rows, gated by one compare against its current
// worst kept score; the Q × N score matrix never exists. The heaps are the approximate
// windows of exact_topk.h, made exact there as in the LibTorch index, so both indexes return
// the same lists bit for bit.
#pragma once

#include <cstdint>
#include <memory>

#include "common/matrix.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {

// A CPU ShardIndex over `shard` (rows normalised here; options.cudaDevice is ignored). The
// heaps and the rescoring run on options.threads threads (0: LibTorch's intra-op count); the
// sgemm on the BLAS's own threads (OMP_NUM_THREADS); options.memoryBudgetBytes bounds the
// score tile.
std::unique_ptr<ShardIndex> makeBlockedCpuShardIndex(Matrix shard, int64_t rowOffset,
                                                     SearchOptions options);

}  // namespace eleanor
