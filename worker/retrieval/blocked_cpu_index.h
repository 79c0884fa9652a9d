// The fused CPU shard index: queries are scored against the shard in cache-sized tiles (a
// block of queries × a tile of shard rows, one product each into a reused buffer), and each
// query keeps a bounded window of its best rows, gated by one compare against its current
// worst kept score; the Q × N score matrix never exists. The windows are the approximate
// windows of exact_topk.h, made exact there as in the LibTorch index, so both indexes return
// the same lists bit for bit. The products are float32 (OpenBLAS sgemm) or, with
// options.cpuDtype "bfloat16" (the "auto" choice where the CPU has AMX or AVX512-BF16), through
// LibTorch's oneDNN, with a wider window for the coarser scores and a bfloat16 copy of the
// rows next to the float32 ones that the rescoring reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/matrix.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {

// A CPU ShardIndex over `shard` (rows normalised here; options.cudaDevice is ignored). The
// heaps and the rescoring run on options.threads threads (0: LibTorch's intra-op count); the
// sgemm on the BLAS's own threads (OMP_NUM_THREADS); options.memoryBudgetBytes bounds the
// score tile.
std::unique_ptr<ShardIndex> makeBlockedCpuShardIndex(Matrix shard, int64_t rowOffset,
                                                     SearchOptions options);

// What search.cpu_dtype `requested` scores in: "auto" is bfloat16 where `fastBf16` (AMX or
// AVX512-BF16, and
// oneDNN in LibTorch) unless its copy of the shard (`copyBytes`) would take more than half the
// memory available to this rank (`availableBytes`: its part of hostMemory(), -1 unknown), then
// float32, with `why` saying so.
std::string chooseCpuDtype(const std::string& requested, bool fastBf16, int64_t copyBytes,
                           int64_t availableBytes, std::string& why);

}  // namespace eleanor
