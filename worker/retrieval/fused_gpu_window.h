// The fused CUDA kernel (fused_topk.h) as a step of the LibTorch shard index: one tile's
// approximate window per query, from device tensors, in place of `mm` + `topk`.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <tuple>

#include "worker/retrieval/fused_topk.h"  // fusedWindowKeeps

namespace eleanor {

// Empty when fusedTileWindow can serve queries `q` (a contiguous CUDA tensor, bfloat16 or
// float16, dim % 8 == 0) with `keep` rows per query on tiles of the same device and dtype (or,
// `int8Rows`, int8 tiles with float32 row scales against float16 queries), on the current
// stream; else why not.
std::string fusedWindowUnsupported(const at::Tensor& q, int64_t keep, bool int8Rows = false);

// The scan kernel fusedTileWindow would run for `q` and `keep` (fusedTopKKernelName), or "".
std::string fusedWindowKernel(const at::Tensor& q, int64_t keep, bool int8Rows = false);

// For each query row of `q`, the best `keep` rows of `tile` (tile.size(0) >= keep, same device,
// dtype and width, contiguous): float32 scores [Q, keep] best first (ties by row asc) and int64
// row indices into the tile [Q, keep]. An int8 tile scores against float16 `q`, each row's
// products times its entry of `scales` (float32 [tile rows], same device). Runs on the current
// stream, which must be the device's default stream (checked by fusedWindowUnsupported).
std::tuple<at::Tensor, at::Tensor> fusedTileWindow(const at::Tensor& q, const at::Tensor& tile,
                                                   int64_t keep, const at::Tensor& scales = {});

// Diagnostics (benchmarks): fusedTopKPhases for the scan fusedTileWindow would run on `q`
// and `tile` with `keep`, under the same switches; empty when `out` is filled, else why not.
std::string fusedTileWindowPhases(const at::Tensor& q, const at::Tensor& tile, int64_t keep,
                                  const FusedScanVariant& variant, FusedScanPhases& out);

// Tiles scored by fusedTileWindow in this process (tests check the kernel really ran).
int64_t fusedTileWindowCalls();

// The scan kernel of the last tile fusedTileWindow scored (fusedTopKKernelName: "sm90",
// "fixed-dim", "generic"), "" before the first.
std::string fusedTileWindowLastKernel();

}  // namespace eleanor
