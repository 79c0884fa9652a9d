// Fused similarity + top-k scan for Hopper (sm_90a: H100, H200), fused_topk_sm90.h. Same
// contract as fused_topk.cu's portable scan kernel (same keys, same partial lists, same
// merge), with the matrix products on Hopper's warpgroup MMA (wgmma) fed by its tensor memory
// accelerator (TMA), which the portable kernel's mma.sync cannot reach: on an H200 the portable
// kernel kept the tensor pipe 14% busy.
//
// Block: 128 queries, a contiguous chunk of rows, 288 threads: one producer warp and two
// consumer warpgroups.
//  - The producer's one thread walks the chunk's (row tile, k-chunk) sequence and, for each,
//    loads 128 queries x 64 elements and 192 rows x 64 elements into a stage (TMA, 128-byte
//    swizzle, zero fill past the matrix) that signals a "full" mbarrier; it reuses a stage
//    once its "empty" mbarrier says every consumer warp is done with it (3 stages).
//  - Consumer warpgroup w owns queries [64w, 64w + 64) of the block. Per k-chunk it issues four
//    wgmma.m64n192k16 (bf16/fp16 in, fp32 accumulate) from the stage, keeping one group of
//    them in flight, and releases the stage of the group before. After a tile's last k-chunk,
//    its 64 x 192 scores are in registers (96 per thread): it offers them to its queries'
//    candidate buffers exactly as the portable kernel does (the largest of a thread's scores
//    of a query against the query's threshold settles most tiles at once; the rest are
//    appended; an overflowing buffer is cut back to `keep` by one warp and its threshold
//    raised), synchronising on its own named barrier only, so one warpgroup's selection
//    overlaps the other's matrix products.
// At the end each warpgroup writes its queries' best `keep` of the chunk as partial lists.
//
// Error bound: as fused_topk.cu's. The products of bf16/fp16 inputs are exact in fp32 and
// wgmma sums them in fp32, in an order of its own: inside the same 2·d·2^-24 allowance.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/cuda_check.h"
#include "common/error.h"
#include "worker/retrieval/cuda/fused_topk_device.cuh"
#include "worker/retrieval/cuda/fused_topk_plan.h"
#include "worker/retrieval/cuda/fused_topk_sm90.h"

#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "fused_topk_sm90.cu is compiled for sm_90a only (wgmma, TMA): see worker/CMakeLists.txt"
#endif

namespace eleanor {
namespace {

using fused::compactToKeep;
using fused::keyScore;
using fused::makeKey;
using fused::sharedAddress;
using fused::writePartial;

constexpr int kQueries = 128;  // per block: two consumer warpgroups of 64
constexpr int kRows = 192;     // rows per tile: one m64n192k16 per k-step and warpgroup
constexpr int kChunkK = 64;    // elements of d per stage: one 128-byte (swizzled) shared row
constexpr int kStages = 3;
constexpr int kConsumerWarps = 8;
constexpr int kThreads = kConsumerWarps * 32 + 32;  // + the producer warp
constexpr int kQueryTileBytes = kQueries * kChunkK * 2;
constexpr int kWarpgroupQueryBytes = kQueryTileBytes / 2;
constexpr int kRowTileBytes = kRows * kChunkK * 2;
constexpr int kStageBytes = kQueryTileBytes + kRowTileBytes;
constexpr int kAccumulators = 64 * kRows / 128;  // per thread
constexpr int kMaxCapacity = 128;                // candidate buffer per query
constexpr int kPerLane = kMaxCapacity / 32;
constexpr uint64_t kTileBits = (1ull << (kRows / 4)) - 1;  // a thread's scores of one query

static_assert(kAccumulators == 96, "the wgmma below is written for m64n192");
static_assert(kStageBytes % 1024 == 0 && kWarpgroupQueryBytes % 1024 == 0 &&
                  kQueryTileBytes % 1024 == 0,
              "128-byte swizzled tiles start on 1024-byte boundaries");

using ScanParams = FusedScanParams;  // capacity <= kMaxCapacity, chunkRows a multiple of kRows

// Shared memory: stages (1024-byte aligned), candidate buffers, thresholds, counts, barriers;
// plus 1024 bytes to align the dynamic base.
constexpr size_t kStagesBytes = static_cast<size_t>(kStages) * kStageBytes;
size_t sharedBytes(int capacity) {
  return kStagesBytes + static_cast<size_t>(kQueries) * capacity * 8 + kQueries * 8 + kQueries * 4 +
         2 * kStages * 8 + 1024;
}

// ---- device helpers: mbarrier, TMA, wgmma, named barriers ----

__device__ __forceinline__ void barrierInit(uint64_t* bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(sharedAddress(bar)), "r"(arrivals)
               : "memory");
}

// Makes the initialised barriers visible to the TMA unit (the async proxy).
__device__ __forceinline__ void barrierInitFence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// The producer's arrival: this phase also waits for `bytes` of TMA writes.
__device__ __forceinline__ void barrierArriveExpect(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(sharedAddress(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void barrierArrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(sharedAddress(bar)) : "memory");
}

__device__ __forceinline__ bool barrierTryWait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n"
      "}\n"
      : "=r"(done)
      : "r"(sharedAddress(bar)), "r"(parity)
      : "memory");
  return done != 0;
}

__device__ __forceinline__ uint64_t nanoseconds() {
  uint64_t t = 0;
  asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
  return t;
}

// Waits for the completion of the barrier's phase of parity `parity`. A wait of more than
// 10 s is a fault of this kernel (a lost TMA, a miscounted arrival): it names the barrier and
// stops the kernel (a launch failure on the host) instead of hanging the device.
__device__ __noinline__ void barrierStuck(const char* which, int stage, uint32_t parity) {
  printf(
      "fused_topk_sm90: block (%d, %d) thread %d waited 10 s on the %s barrier of stage %d "
      "(parity %u): stopping\n",
      blockIdx.x, blockIdx.y, threadIdx.x, which, stage, parity);
  __trap();
}

__device__ __forceinline__ void barrierWait(uint64_t* bar, uint32_t parity, const char* which,
                                            int stage) {
  if (barrierTryWait(bar, parity)) return;
  const uint64_t start = nanoseconds();
  while (!barrierTryWait(bar, parity))
    if (nanoseconds() - start > 10'000'000'000ull) barrierStuck(which, stage, parity);
}

// TMA: the box of `map` at (c0 innermost, c1) into shared `dst`, completing on `bar`.
__device__ __forceinline__ void tmaLoad(void* dst, const CUtensorMap* map, int c0, int c1,
                                        uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(sharedAddress(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(sharedAddress(bar))
      : "memory");
}

// wgmma shared-memory matrix descriptor of a K-major tile in 128-byte swizzle: rows of 64
// elements (128 bytes), 8-row groups 1024 bytes apart. Start address >> 4 in bits 0-13, the
// leading offset (unused for this layout, 1) in 16-29, the stride 1024 >> 4 in 32-45, swizzle
// mode 1 (128 bytes) in 62-63. The k-th 16-element step of the row is 32·k bytes further:
// descriptor + 2k.
__device__ __forceinline__ uint64_t matrixDescriptor(const void* tile) {
  return static_cast<uint64_t>((sharedAddress(tile) & 0x3FFFF) >> 4) | (1ull << 16) |
         (static_cast<uint64_t>(1024 >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int Pending>
__device__ __forceinline__ void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}

// The compiler does not know that wgmma writes the accumulators until wgmma.wait_group: after
// the wait, this says every accumulator may have changed, so no read of one moves above it.
__device__ __forceinline__ void accumulatorsWritten(float (&d)[kAccumulators]) {
#pragma unroll
  for (int i = 0; i < kAccumulators; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define ELEANOR_WGMMA_D8(i)                                                                   \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
#define ELEANOR_WGMMA_M64N192K16(TYPE)                                                          \
  asm volatile(                                                                                 \
      "{\n"                                                                                     \
      ".reg .pred p;\n"                                                                         \
      "setp.ne.b32 p, %98, 0;\n"                                                                \
      "wgmma.mma_async.sync.aligned.m64n192k16.f32." TYPE "." TYPE                              \
      " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, "      \
      "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, "        \
      "%34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, "        \
      "%50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, "        \
      "%66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, "        \
      "%82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95},"                  \
      " %96, %97, p, 1, 1, 0, 0;\n"                                                             \
      "}\n"                                                                                     \
      : ELEANOR_WGMMA_D8(0), ELEANOR_WGMMA_D8(8), ELEANOR_WGMMA_D8(16), ELEANOR_WGMMA_D8(24),   \
        ELEANOR_WGMMA_D8(32), ELEANOR_WGMMA_D8(40), ELEANOR_WGMMA_D8(48), ELEANOR_WGMMA_D8(56), \
        ELEANOR_WGMMA_D8(64), ELEANOR_WGMMA_D8(72), ELEANOR_WGMMA_D8(80), ELEANOR_WGMMA_D8(88)  \
      : "l"(descA), "l"(descB), "r"(accumulate))

// d (64 x 192, fp32) = A (64 x 16) · B (192 x 16)^T + (accumulate ? d : 0), A and B K-major in
// shared memory. d[4j + e] is row (warp % 4)·16 + lane/4 + 8·(e/2), column 8j + 2·(lane % 4) +
// e % 2 (the mma.m16n8 accumulator layout, 24 times along N).
template <bool kBf16>
__device__ __forceinline__ void wgmma192(float (&d)[kAccumulators], uint64_t descA, uint64_t descB,
                                         uint32_t accumulate) {
  if constexpr (kBf16) {
    ELEANOR_WGMMA_M64N192K16("bf16");
  } else {
    ELEANOR_WGMMA_M64N192K16("f16");
  }
}

#undef ELEANOR_WGMMA_M64N192K16
#undef ELEANOR_WGMMA_D8

// Named barrier `id` over one warpgroup's 128 threads; the second also ORs `value` across them.
__device__ __forceinline__ void warpgroupBarrier(int id) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory");
}

__device__ __forceinline__ bool warpgroupBarrierOr(int id, bool value) {
  uint32_t any = 0;
  asm volatile(
      "{\n"
      ".reg .pred p, q;\n"
      "setp.ne.u32 p, %1, 0;\n"
      "bar.red.or.pred q, %2, 128, p;\n"
      "selp.u32 %0, 1, 0, q;\n"
      "}\n"
      : "=r"(any)
      : "r"(static_cast<uint32_t>(value)), "r"(id)
      : "memory");
  return any != 0;
}

template <bool kBf16>
__global__ void __launch_bounds__(kThreads, 1)
    hopperScanKernel(const __grid_constant__ CUtensorMap queryMap,
                     const __grid_constant__ CUtensorMap rowMap, ScanParams p) {
  extern __shared__ __align__(1024) unsigned char sharedRaw[];
  unsigned char* shared = sharedRaw + ((1024 - (sharedAddress(sharedRaw) & 1023)) & 1023);
  unsigned char* stages = shared;
  uint64_t* buffer = reinterpret_cast<uint64_t*>(shared + kStagesBytes);  // kQueries x capacity
  uint64_t* threshold = buffer + static_cast<size_t>(kQueries) * p.capacity;
  int* count = reinterpret_cast<int*>(threshold + kQueries);
  uint64_t* full = reinterpret_cast<uint64_t*>(count + kQueries);
  uint64_t* empty = full + kStages;

  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int queryBase = blockIdx.x * kQueries;
  const int chunk = blockIdx.y;
  const int rowBegin = chunk * p.chunkRows;
  const int rowEnd = min(p.rowCount, rowBegin + p.chunkRows);
  const int tiles = (rowEnd - rowBegin + kRows - 1) / kRows;
  const int kChunks = (p.dim + kChunkK - 1) / kChunkK;
  const int total = tiles * kChunks;

  if (tid < kQueries) {
    count[tid] = 0;
    threshold[tid] = 0;
  }
  if (tid == kConsumerWarps * 32) {
    for (int s = 0; s < kStages; ++s) {
      barrierInit(&full[s], 1);                // the producer's arrival, plus the TMA bytes
      barrierInit(&empty[s], kConsumerWarps);  // one arrival per consumer warp
    }
    barrierInitFence();
  }
  __syncthreads();

  if (warp == kConsumerWarps) {  // the producer
    if (lane == 0) {
      for (int it = 0; it < total; ++it) {
        const int s = it % kStages;
        // Round r of stage s waits for the consumers' release of round r - 1 (parity of the
        // phase before, which a fresh barrier counts as complete for round 0).
        barrierWait(&empty[s], ((it / kStages) & 1) ^ 1, "empty", s);
        barrierArriveExpect(&full[s], kStageBytes);
        const int tile = it / kChunks;
        const int k0 = (it - tile * kChunks) * kChunkK;
        unsigned char* stage = stages + s * kStageBytes;
        tmaLoad(stage, &queryMap, k0, queryBase, &full[s]);
        tmaLoad(stage + kQueryTileBytes, &rowMap, k0, rowBegin + tile * kRows, &full[s]);
      }
    }
    return;  // no block-wide barrier follows
  }

  // A consumer: warpgroup wg, its queries [wg * 64, +64) of the block.
  const int wg = warp >> 2;
  const int warpInWg = warp & 3;
  const int barrierId = 1 + wg;  // 0 is __syncthreads'
  const int firstQuery = wg * 64;
  const int myQuery = firstQuery + warpInWg * 16 + (lane >> 2);  // and myQuery + 8
  const int myColumn = 2 * (lane & 3);

  // The tile at rows [rowTile, rowTile + kRows) is complete in d: offer its scores to the
  // candidate buffers. pending[h] bit 2j + b is d[4j + 2h + b]: query myQuery + 8h, row
  // rowTile + 8j + myColumn + b.
  const auto offerTile = [&](const float(&d)[kAccumulators], int rowTile) {
    uint64_t pending[2] = {kTileBits, kTileBits};
    if (queryBase + kQueries > p.queryCount || rowTile + kRows > rowEnd) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        pending[h] = 0;
        if (queryBase + myQuery + 8 * h >= p.queryCount) continue;
#pragma unroll
        for (int j = 0; j < kRows / 8; ++j)
#pragma unroll
          for (int b = 0; b < 2; ++b)
            if (rowTile + 8 * j + myColumn + b < rowEnd) pending[h] |= 1ull << (2 * j + b);
      }
    }
    for (;;) {
      uint64_t thresholdKey[2];
      float thresholdScore[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        thresholdKey[h] = threshold[myQuery + 8 * h];
        thresholdScore[h] = keyScore(thresholdKey[h]);
        // Quick rejection, as in fused_topk.cu: the largest of the thread's 48 scores of the
        // query below its threshold's score settles all 48 (fmaxf skips NaN; a group of NaN
        // alone goes the long way, where NaN ranks as -inf).
        float best = fmaxf(d[2 * h], d[2 * h + 1]);
#pragma unroll
        for (int j = 1; j < kRows / 8; ++j)
          best = fmaxf(best, fmaxf(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]));
        if (best < thresholdScore[h]) pending[h] = 0;
      }
      bool failed = false;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (pending[h] == 0) continue;
        const int ql = myQuery + 8 * h;
#pragma unroll
        for (int j = 0; j < kRows / 8; ++j)
#pragma unroll
          for (int b = 0; b < 2; ++b) {
            const uint64_t bit = 1ull << (2 * j + b);
            if (!(pending[h] & bit)) continue;
            const float score = d[4 * j + 2 * h + b];
            if (score < thresholdScore[h]) {
              pending[h] &= ~bit;
              continue;
            }
            const uint64_t key =
                makeKey(score, static_cast<uint32_t>(rowTile + 8 * j + myColumn + b));
            if (key <= thresholdKey[h]) {
              pending[h] &= ~bit;
              continue;
            }
            const int slot = atomicAdd(&count[ql], 1);
            if (slot < p.capacity) {
              buffer[static_cast<size_t>(ql) * p.capacity + slot] = key;
              pending[h] &= ~bit;
            } else {
              failed = true;  // stays pending: offered again after the cut below
            }
          }
      }
      // Every offer of this round is in; did any buffer of this warpgroup overflow?
      if (!warpgroupBarrierOr(barrierId, failed)) break;
      for (int ql = firstQuery + warpInWg; ql < firstQuery + 64; ql += 4) {
        if (count[ql] <= p.capacity) continue;  // warp-uniform: one shared word
        const uint64_t cut = compactToKeep<kPerLane>(buffer + static_cast<size_t>(ql) * p.capacity,
                                                     p.capacity, p.keep, lane);
        if (lane == 0) {
          threshold[ql] = cut;
          count[ql] = p.keep;
        }
      }
      warpgroupBarrier(barrierId);
    }
  };

  // Diagnostics: the tile's scores as they are, to p.scores.
  const auto writeScores = [&](const float(&d)[kAccumulators], int rowTile) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int q = queryBase + myQuery + 8 * h;
#pragma unroll
      for (int j = 0; j < kRows / 8; ++j)
#pragma unroll
        for (int b = 0; b < 2; ++b) {
          const int row = rowTile + 8 * j + myColumn + b;
          if (q < p.queryCount && row < rowEnd)
            p.scores[static_cast<size_t>(q) * p.rowCount + row] = d[4 * j + 2 * h + b];
        }
    }
  };

  float d[kAccumulators];  // each tile's first wgmma ignores it (scale-d 0); defined anyway
#pragma unroll
  for (int i = 0; i < kAccumulators; ++i) d[i] = 0.0f;
  const unsigned char* myQueries = stages + wg * kWarpgroupQueryBytes;
  int it = 0;
  int held = -1;  // the stage read by the wgmma group still in flight, if any
  for (int tile = 0; tile < tiles; ++tile) {
    for (int kc = 0; kc < kChunks; ++kc, ++it) {
      const int s = it % kStages;
      barrierWait(&full[s], (it / kStages) & 1, "full", s);
      const uint64_t descA = matrixDescriptor(myQueries + s * kStageBytes);
      const uint64_t descB = matrixDescriptor(stages + s * kStageBytes + kQueryTileBytes);
      wgmmaFence();
#pragma unroll
      for (int kk = 0; kk < kChunkK / 16; ++kk)
        wgmma192<kBf16>(d, descA + 2 * kk, descB + 2 * kk, (kc | kk) != 0 ? 1u : 0u);
      wgmmaCommit();
      if (held >= 0) {
        wgmmaWait<1>();  // the group before this one is done with its stage
        if (lane == 0) barrierArrive(&empty[held]);
      }
      held = s;
    }
    wgmmaWait<0>();
    accumulatorsWritten(d);
    if (lane == 0) barrierArrive(&empty[held]);
    held = -1;
    if (p.scores != nullptr) {
      writeScores(d, rowBegin + tile * kRows);
      continue;
    }
    offerTile(d, rowBegin + tile * kRows);
  }
  if (p.scores != nullptr) return;

  // Each query's best `keep` of this chunk (fewer when the chunk is short: the rest 0). The
  // last offer round's barrier has every offer of this warpgroup in.
  for (int ql = firstQuery + warpInWg; ql < firstQuery + 64; ql += 4) {
    const int q = queryBase + ql;
    if (q >= p.queryCount) continue;  // warp-uniform
    writePartial<kPerLane>(buffer + static_cast<size_t>(ql) * p.capacity, count[ql], p.keep,
                           p.partials + (static_cast<size_t>(q) * p.chunks + chunk) * p.keep, lane);
  }
}

// ---- host side ----

using ScanKernel = void (*)(CUtensorMap, CUtensorMap, ScanParams);

ScanKernel kernelFor(FusedDtype dtype) {
  return dtype == FusedDtype::BFloat16 ? hopperScanKernel<true> : hopperScanKernel<false>;
}

// cuTensorMapEncodeTiled from the driver the runtime loaded (no link against libcuda, so the
// binaries start where there is no driver); null where it has none.
PFN_cuTensorMapEncodeTiled_v12000 encodeTiled() {
  static const PFN_cuTensorMapEncodeTiled_v12000 function = [] {
    void* found = nullptr;
    cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &found, 12000, cudaEnableDefault,
                                         &status) != cudaSuccess ||
        status != cudaDriverEntryPointSuccess)
      found = nullptr;
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(found);
  }();
  return function;
}

// A row-major [rows x dim] 16-bit matrix, boxes of boxRows x kChunkK, 128-byte swizzle,
// zeros outside it.
CUtensorMap tensorMap(FusedDtype dtype, const void* base, int64_t rows, int64_t dim, int boxRows) {
  CUtensorMap map;
  const cuuint64_t sizes[2] = {static_cast<cuuint64_t>(dim), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(dim) * 2};
  const cuuint32_t box[2] = {kChunkK, static_cast<cuuint32_t>(boxRows)};
  const cuuint32_t steps[2] = {1, 1};
  const CUresult rc =
      encodeTiled()(&map,
                    dtype == FusedDtype::BFloat16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                  : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                    2, const_cast<void*>(base), sizes, strides, box, steps,
                    CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (rc != CUDA_SUCCESS)
    throw InternalError("fusedTopK (sm90): cuTensorMapEncodeTiled failed with CUresult " +
                        std::to_string(static_cast<int>(rc)) + " for a " + std::to_string(rows) +
                        " x " + std::to_string(dim) + " matrix");
  return map;
}

}  // namespace

std::string planFusedScanSm90(const FusedTopKProblem& p, int maxChunks, FusedScanSm90Plan& plan) {
  int major = 0, minor = 0, sms = 0, sharedOptIn = 0;
  ELEANOR_CHECK_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, p.device));
  ELEANOR_CHECK_CUDA(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, p.device));
  ELEANOR_CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, p.device));
  ELEANOR_CHECK_CUDA(
      cudaDeviceGetAttribute(&sharedOptIn, cudaDevAttrMaxSharedMemoryPerBlockOptin, p.device));
  if (major != 9 || minor != 0) return "the Hopper kernel needs compute capability 9.0";
  if (p.keep > kFusedTopKHopperMaxKeep)
    return "the Hopper kernel keeps at most " + std::to_string(kFusedTopKHopperMaxKeep);
  if (p.rowCount > INT_MAX - 2 * kRows) return "row count out of range";
  if (encodeTiled() == nullptr) return "the driver has no cuTensorMapEncodeTiled";

  // Room for 64 more candidates per query than kept (fewer cuts); 32 where memory is short.
  const int keepPadded = (p.keep + 31) / 32 * 32;
  plan.capacity = keepPadded + 64;
  if (plan.capacity > kMaxCapacity || sharedBytes(plan.capacity) > static_cast<size_t>(sharedOptIn))
    plan.capacity = keepPadded + 32;
  plan.sharedBytes = sharedBytes(plan.capacity);
  if (plan.capacity > kMaxCapacity || plan.sharedBytes > static_cast<size_t>(sharedOptIn))
    return "keep " + std::to_string(p.keep) + " needs " + std::to_string(plan.sharedBytes) +
           " bytes of shared memory per block; this device has " + std::to_string(sharedOptIn);

  const ScanKernel kernel = kernelFor(p.dtype);
  ELEANOR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(plan.sharedBytes)));
  int blocksPerSm = 0;
  ELEANOR_CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocksPerSm, kernel, kThreads,
                                                                   plan.sharedBytes));
  if (blocksPerSm < 1) return "the Hopper scan kernel does not fit on this device";

  const RowChunks split = splitRows(p.queryCount, p.rowCount, kQueries, kRows,
                                    static_cast<int64_t>(sms) * blocksPerSm, maxChunks);
  plan.chunks = split.chunks;
  plan.chunkRows = split.chunkRows;
  return "";
}

void launchFusedScanSm90(const FusedTopKProblem& problem, const FusedScanSm90Plan& plan,
                         FusedScanParams params) {
  const CUtensorMap queryMap =
      tensorMap(problem.dtype, problem.queries, problem.queryCount, problem.dim, kQueries);
  const CUtensorMap rowMap =
      tensorMap(problem.dtype, problem.rows, problem.rowCount, problem.dim, kRows);
  params.capacity = plan.capacity;
  params.chunkRows = plan.chunkRows;
  params.chunks = plan.chunks;
  const dim3 grid(static_cast<unsigned>((problem.queryCount + kQueries - 1) / kQueries),
                  static_cast<unsigned>(plan.chunks));
  kernelFor(
      problem
          .dtype)<<<grid, kThreads, plan.sharedBytes, static_cast<cudaStream_t>(problem.stream)>>>(
      queryMap, rowMap, params);
  ELEANOR_CHECK_CUDA(cudaGetLastError());
}

}  // namespace eleanor
