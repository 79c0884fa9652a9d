// Fused similarity + top-k (fused_topk.h) for sm_80 and later: one portable path on
// mma.sync.m16n8k16 (bf16 / fp16 in, fp32 accumulate), cp.async and ldmatrix.
//
// Scan kernel: a block owns 64 queries and a contiguous chunk of rows. It walks the chunk in
// tiles of 128 rows; each tile's 64 x 128 similarities stay in registers (4 warps, 32 x 64 each),
// and the scores above a query's threshold are appended to that query's candidate buffer in
// shared memory. When a buffer overflows, one warp cuts it back to the best `keep` by radix
// selection and raises the threshold to the keep-th key; the elements that did not fit are
// still in registers and are offered again. The K loop is pipelined across tiles (3 cp.async
// stages over the flattened (tile, k-step) sequence), so loads of the next tile overlap the
// selection. At the end each block writes its queries' best `keep` (unsorted) as a partial list.
// Merge kernel: one block per query picks the best `keep` of its partial lists and sorts them.
//
// Ranking key: (score, row) packed into 64 bits, score's order-preserving bits high and
// ~row low, so that one unsigned comparison orders by (score desc, row asc) and every key is
// distinct. The kept set is therefore exactly the top-`keep` by that order: deterministic.
//
// Error bound. The index's bound (exact_topk.h's ScoreBound, built in torch_shard_index.cpp)
// allows: the measured rounding of q and p to bf16/fp16 (|q - q~| |p| + |q~| |p - p~|),
// 2·d·2^-24 |q~||p~| for the float32 accumulation, which is twice the textbook bound d·u
// (u = 2^-24) for a sum of d terms in any order and so also covers accumulation that truncates
// instead of rounding (u = 2^-23), as tensor cores do, and on the matrix path the rounding of
// each score to bf16/fp16. Here q and p are the same bf16/fp16 tensors, the products are exact
// in fp32, and the sums run on the same tensor-core instructions cuBLAS uses (16 products per
// mma, then mma after mma along d): an fp32 summation of the same d terms in another order,
// inside the same bound. The output is float32, not rounded to 16 bits, and the index gives
// this kernel's scores no term for that rounding.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>

#include "common/cuda_check.h"
#include "common/error.h"
#include "worker/retrieval/cuda/fused_topk_device.cuh"
#include "worker/retrieval/cuda/fused_topk_plan.h"
#include "worker/retrieval/fused_topk.h"
#if ELEANOR_FUSED_SM90
#include "worker/retrieval/cuda/fused_topk_sm90.h"
#endif

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "fused_topk.cu needs sm_80 or later (mma.sync bf16, cp.async, __reduce_*_sync)"
#endif

namespace eleanor {
namespace {

using fused::cutOverflowing;
using fused::keyRow;
using fused::keyScore;
using fused::loadMatrixX4;
using fused::offerScore;
using fused::sharedAddress;
using fused::writePartial;

constexpr int kBlockQueries = 64;  // queries per block (2 warps x 32)
constexpr int kBlockRows = 128;    // rows per tile (2 warps x 64)
constexpr int kBlockK = 32;        // elements of d per pipeline stage
constexpr int kStages = 3;
constexpr int kThreads = 128;
constexpr int kLds = kBlockK + 8;  // padded shared row: 80 bytes, ldmatrix without conflicts
constexpr int kStageElems = (kBlockQueries + kBlockRows) * kLds;
constexpr int kStageBytes = kStageElems * 2;
constexpr int kMaxCapacity = kFusedTopKMaxKeep + 64;  // candidate buffer per query
constexpr int kPerLane = kMaxCapacity / 32;           // buffer entries per lane when compacting
constexpr int kMergeMaxCandidates = kFusedTopKMaxListCapacity;  // per query, in shared memory
constexpr int kMergeThreads = 256;
constexpr int kMergeWarps = kMergeThreads / 32;

static_assert(kMaxCapacity % 32 == 0, "capacity is a whole number of warp rows");
static_assert(kThreads == 128 && kBlockQueries == 64 && kBlockRows == 128,
              "the warp layout below is written for 4 warps of 32 queries x 64 rows");
static_assert((kLds * 2) % 16 == 0, "cp.async and ldmatrix need 16-byte aligned shared rows");

using ScanParams = FusedScanParams;

// int8 rows (FusedTopKProblem::int8Rows): each stage's rows arrive as bytes, kBlockRows x
// kBlockK, and are widened to float16 into the stage's row tile before its products; the
// row scales of the last few tiles wait in a ring (a tile's scales load with its first k-step,
// at most kStages - 1 k-steps ahead, so up to three tiles ahead when a tile is one k-step).
constexpr int kInt8StageBytes = kBlockRows * kBlockK;
constexpr int kScaleRing = 4;

size_t scanSharedBytes(int capacity, bool int8Rows) {
  return static_cast<size_t>(kBlockQueries) * capacity * 8 + kStages * kStageBytes +
         kBlockQueries * 8 + kBlockQueries * 4 +
         (int8Rows ? kStages * kInt8StageBytes + kScaleRing * kBlockRows * 4 : 0);
}

// The merge of `candidates` keys per query into windows of `keep`.
size_t mergeSharedBytes(int64_t candidates, int keep) {
  return (static_cast<size_t>(candidates) + keep) * 8;
}

// ---- device helpers ----

// 16 bytes global -> shared; zero-fills when !valid (src is then not read).
__device__ __forceinline__ void copyAsync16(void* dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sharedAddress(dst)),
               "l"(src), "r"(bytes)
               : "memory");
}

// `bytes` (4 or 8) global -> shared, of which the first `valid` are read and the rest zeroed.
template <int kBytes>
__device__ __forceinline__ void copyAsyncSmall(void* dst, const void* src, int valid) {
  static_assert(kBytes == 4 || kBytes == 8, "cp.async.ca copies 4, 8 or 16 bytes");
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(sharedAddress(dst)),
               "l"(src), "n"(kBytes), "r"(valid)
               : "memory");
}

// Four int8 (a little-endian word) as four float16, exactly: the byte x + 128 (its sign bit
// flipped) below the float16 1024's bits is 1024 + 128 + x, and subtracting 1152 leaves x.
__device__ __forceinline__ uint2 int8x4ToHalf4(uint32_t bytes) {
  const uint32_t flipped = bytes ^ 0x80808080u;
  // prmt: bytes 0 and 1 of `flipped` under 0x64 each, then bytes 2 and 3.
  uint32_t lo = 0, hi = 0;
  asm("prmt.b32 %0, %1, %2, 0x7170;\n" : "=r"(lo) : "r"(flipped), "r"(0x64646464u));
  asm("prmt.b32 %0, %1, %2, 0x7372;\n" : "=r"(hi) : "r"(flipped), "r"(0x64646464u));
  const __half2 bias = __float2half2_rn(1152.0f);
  const __half2 a = __hsub2(*reinterpret_cast<const __half2*>(&lo), bias);
  const __half2 b = __hsub2(*reinterpret_cast<const __half2*>(&hi), bias);
  return make_uint2(*reinterpret_cast<const uint32_t*>(&a), *reinterpret_cast<const uint32_t*>(&b));
}

__device__ __forceinline__ void copyAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int Pending>
__device__ __forceinline__ void copyAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

template <bool kBf16>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (kBf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Zeroes a warp's tile accumulators (2 m16 x 8 n8 fragments of 4 floats per thread).
__device__ __forceinline__ void clearAccumulators(float (&acc)[2][8][4]) {
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 8; ++ni)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[mi][ni][j] = 0.0f;
}

// kDim: 0 for any dim (a multiple of 8), read at run time; or a dim fixed at compile time
// (a multiple of kBlockK whose k-steps are a whole number of pipeline rounds), whose k-loop is
// unrolled tile by tile: constant stage offsets, no division per k-step, and loads and mma of
// consecutive k-steps scheduled together. kInt8: the rows are int8 with a float32 scale each
// (p.rows8, p.scales; the queries float16): widened to float16 in shared memory, exactly, and
// each tile's products scaled by their rows' scales before the selection.
template <bool kBf16, int kDim, bool kInt8 = false>
__global__ void __launch_bounds__(kThreads) fusedScanKernel(ScanParams p) {
  static_assert(kDim == 0 || (kDim % kBlockK == 0 && (kDim / kBlockK) % kStages == 0),
                "a fixed dim is a whole number of pipeline rounds of k-steps");
  static_assert(!(kInt8 && kBf16), "int8 rows are widened to float16: float16 queries");
  extern __shared__ __align__(16) unsigned char shared[];
  uint64_t* buffer = reinterpret_cast<uint64_t*>(shared);  // kBlockQueries x capacity
  uint16_t* stages =
      reinterpret_cast<uint16_t*>(shared + static_cast<size_t>(kBlockQueries) * p.capacity * 8);
  uint64_t* threshold = reinterpret_cast<uint64_t*>(stages + kStages * kStageElems);
  int* count = reinterpret_cast<int*>(threshold + kBlockQueries);
  // kInt8: the stages' bytes as they arrive, then the ring of tiles' row scales.
  [[maybe_unused]] uint8_t* bytes = reinterpret_cast<uint8_t*>(count + kBlockQueries);
  [[maybe_unused]] float* scaleRing = reinterpret_cast<float*>(bytes + kStages * kInt8StageBytes);

  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int warpQ = warp & 1;   // queries [warpQ * 32, +32) of the block
  const int warpN = warp >> 1;  // rows [warpN * 64, +64) of the tile
  const int queryBase = blockIdx.x * kBlockQueries;
  const int chunk = blockIdx.y;
  const int rowBegin = chunk * p.chunkRows;
  const int rowEnd = min(p.rowCount, rowBegin + p.chunkRows);
  const int tiles = (rowEnd - rowBegin + kBlockRows - 1) / kBlockRows;
  const int dim = kDim != 0 ? kDim : p.dim;
  const int kSteps = (dim + kBlockK - 1) / kBlockK;
  const int total = tiles * kSteps;

  for (int i = tid; i < kBlockQueries; i += kThreads) {
    count[i] = 0;
    threshold[i] = 0;
  }

  // Stage `stage` <- k-step `step` of tile `tile`. Rows past the chunk, queries past the
  // block and columns past dim are zero-filled (dim % 8 == 0, so a 16-byte piece is wholly
  // inside or outside).
  const auto loadAt = [&](int tile, int kStep, int stage) {
    const int k0 = kStep * kBlockK;
    uint16_t* sa = stages + stage * kStageElems;
    uint16_t* sb = sa + kBlockQueries * kLds;
#pragma unroll
    for (int step = 0; step < kBlockQueries * 4 / kThreads; ++step) {
      const int i = tid + step * kThreads;
      const int r = i >> 2, c = (i & 3) * 8;
      const int q = queryBase + r, col = k0 + c;
      const bool ok = q < p.queryCount && col < dim;
      const uint16_t* src = ok ? p.queries + static_cast<size_t>(q) * dim + col : p.queries;
      copyAsync16(sa + r * kLds + c, src, ok);
    }
    const int rowTile = rowBegin + tile * kBlockRows;
    if constexpr (kInt8) {
      // 8-byte pieces (rows of dim % 8 == 0 bytes start 8-byte aligned), and with the first
      // k-step the tile's scales, into its slot of the ring.
      uint8_t* s8 = bytes + stage * kInt8StageBytes;
#pragma unroll
      for (int step = 0; step < kBlockRows * (kBlockK / 8) / kThreads; ++step) {
        const int i = tid + step * kThreads;
        const int r = i >> 2, c = (i & 3) * 8;
        const int n = rowTile + r, col = k0 + c;
        const bool ok = n < rowEnd && col < dim;
        copyAsyncSmall<8>(s8 + r * kBlockK + c,
                          ok ? p.rows8 + static_cast<size_t>(n) * dim + col : p.rows8, ok ? 8 : 0);
      }
      if (kStep == 0) {
        static_assert(kBlockRows == kThreads, "one scale per thread");
        const int n = rowTile + tid;
        copyAsyncSmall<4>(scaleRing + (tile % kScaleRing) * kBlockRows + tid,
                          n < rowEnd ? p.scales + n : p.scales, n < rowEnd ? 4 : 0);
      }
    } else {
#pragma unroll
      for (int step = 0; step < kBlockRows * 4 / kThreads; ++step) {
        const int i = tid + step * kThreads;
        const int r = i >> 2, c = (i & 3) * 8;
        const int n = rowTile + r, col = k0 + c;
        const bool ok = n < rowEnd && col < dim;
        const uint16_t* src = ok ? p.rows + static_cast<size_t>(n) * dim + col : p.rows;
        copyAsync16(sb + r * kLds + c, src, ok);
      }
    }
  };
  // kInt8: stage `stage`'s bytes (arrived, and seen by every thread) widened into its row
  // tile; a barrier after, before any warp reads the tile.
  const auto widen = [&](int stage) {
    if constexpr (kInt8) {
      const uint8_t* s8 = bytes + stage * kInt8StageBytes;
      uint16_t* sb = stages + stage * kStageElems + kBlockQueries * kLds;
#pragma unroll
      for (int step = 0; step < kBlockRows * (kBlockK / 8) / kThreads; ++step) {
        const int i = tid + step * kThreads;
        const int r = i >> 2, c = (i & 3) * 8;
        const uint2 eight = *reinterpret_cast<const uint2*>(s8 + r * kBlockK + c);
        const uint2 a = int8x4ToHalf4(eight.x), b = int8x4ToHalf4(eight.y);
        *reinterpret_cast<uint4*>(sb + r * kLds + c) = make_uint4(a.x, a.y, b.x, b.y);
      }
      __syncthreads();
    } else {
      (void)stage;
    }
  };
  // The same, by position `flat` in the flattened (tile, k-step) sequence.
  const auto load = [&](int flat, int stage) {
    const int tile = flat / kSteps;
    loadAt(tile, flat - tile * kSteps, stage);
  };

  float acc[2][8][4];
  clearAccumulators(acc);

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < total) load(s, s);
    copyAsyncCommit();  // always: keeps the group count that copyAsyncWait relies on
  }

  // One k-step: the warp's 32 x 64 products over the kBlockK columns held in stage `stage`.
  const auto mmaStage = [&](int stage) {
    const uint16_t* sa = stages + stage * kStageElems;
    const uint16_t* sb = sa + kBlockQueries * kLds;
#pragma unroll
    for (int kk = 0; kk < kBlockK; kk += 16) {
      uint32_t a[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
        loadMatrixX4(a[mi],
                     sa + (warpQ * 32 + mi * 16 + (lane & 15)) * kLds + kk + (lane >> 4) * 8);
      uint32_t b[8][2];
#pragma unroll
      for (int nj = 0; nj < 4; ++nj) {
        uint32_t r[4];
        loadMatrixX4(r, sb + (warpN * 64 + nj * 16 + (lane >> 4) * 8 + (lane & 7)) * kLds + kk +
                            ((lane >> 3) & 1) * 8);
        b[2 * nj][0] = r[0];
        b[2 * nj][1] = r[1];
        b[2 * nj + 1][0] = r[2];
        b[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 8; ++ni) mma16816<kBf16>(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
    }
  };

  // The tile at rows [rowTile, rowTile + kBlockRows) is complete in acc: offer its scores to
  // the candidate buffers, then clear acc for the next tile.
  const auto offerTile = [&](int rowTile) {
    // acc[mi][ni][j] is query warpQ*32 + mi*16 + (lane>>2) + (j>>1)*8 of the block,
    // row warpN*64 + ni*8 + (lane&3)*2 + (j&1) of the tile (the mma.m16n8 C layout).
    if constexpr (kInt8) {  // the products of the widened bytes, times their rows' scales
      const float* scale =
          scaleRing + (((rowTile - rowBegin) / kBlockRows) % kScaleRing) * kBlockRows;
#pragma unroll
      for (int ni = 0; ni < 8; ++ni)
#pragma unroll
        for (int b = 0; b < 2; ++b) {
          const float rowScale = scale[warpN * 64 + ni * 8 + (lane & 3) * 2 + b];
#pragma unroll
          for (int mi = 0; mi < 2; ++mi) {
            acc[mi][ni][b] *= rowScale;
            acc[mi][ni][2 + b] *= rowScale;
          }
        }
    }
    uint64_t pending = ~0ull;  // a whole tile: every score is real
    if (queryBase + kBlockQueries > p.queryCount || rowTile + kBlockRows > rowEnd) {
      pending = 0;
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 8; ++ni)
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const int q = queryBase + warpQ * 32 + mi * 16 + (lane >> 2) + (j >> 1) * 8;
            const int n = rowTile + warpN * 64 + ni * 8 + (lane & 3) * 2 + (j & 1);
            if (q < p.queryCount && n < rowEnd) pending |= 1ull << ((mi * 8 + ni) * 4 + j);
          }
    }
    for (;;) {
      uint64_t thresholdKey[2][2];
      float thresholdScore[2][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          thresholdKey[mi][h] = threshold[warpQ * 32 + mi * 16 + (lane >> 2) + h * 8];
          thresholdScore[mi][h] = keyScore(thresholdKey[mi][h]);
        }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          // Quick rejection: the thread holds 16 scores of each of its 4 queries (mi, h); where
          // the largest is below the query's threshold score, all 16 are out at once. Once the
          // thresholds have risen this settles almost every tile in 60 max operations, where
          // the test below costs several instructions per score. (fmaxf skips NaN; a group of
          // NaN alone compares false and goes the long way, where NaN ranks as -inf.)
          float best = fmaxf(acc[mi][0][2 * h], acc[mi][0][2 * h + 1]);
#pragma unroll
          for (int ni = 1; ni < 8; ++ni)
            best = fmaxf(best, fmaxf(acc[mi][ni][2 * h], acc[mi][ni][2 * h + 1]));
          // The group's bits: (mi * 8 + ni) * 4 + j for j = 2h, 2h + 1.
          const uint64_t group = static_cast<uint64_t>(h ? 0xCCCCCCCCu : 0x33333333u) << (mi * 32);
          if (best < thresholdScore[mi][h]) pending &= ~group;
        }
      bool failed = false;
      if (pending != 0) {
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int ni = 0; ni < 8; ++ni)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
              const uint64_t bit = 1ull << ((mi * 8 + ni) * 4 + j);
              if (!(pending & bit)) continue;
              const int h = j >> 1;
              const int ql = warpQ * 32 + mi * 16 + (lane >> 2) + h * 8;
              const uint32_t n =
                  static_cast<uint32_t>(rowTile + warpN * 64 + ni * 8 + (lane & 3) * 2 + (j & 1));
              if (offerScore(acc[mi][ni][j], n, thresholdScore[mi][h], thresholdKey[mi][h],
                             buffer + ql * p.capacity, &count[ql], p.capacity))
                pending &= ~bit;
              else
                failed = true;  // stays pending: offered again after the cut below
            }
      }
      // One barrier: every offer of this round is in, and whether any buffer overflowed.
      if (!__syncthreads_or(failed)) break;  // the same answer in every thread
      cutOverflowing<kPerLane>(buffer, threshold, count, p.capacity, p.keep, 0, kBlockQueries, warp,
                               kThreads / 32, lane);
      __syncthreads();
    }
    clearAccumulators(acc);
  };

  if constexpr (kDim != 0) {
    constexpr int kFixedSteps = kDim / kBlockK;
    for (int tile = 0; tile < tiles; ++tile) {
#pragma unroll
      for (int s = 0; s < kFixedSteps; ++s) {
        // As in the loop below, with every stage index a constant: flat index
        // tile * kFixedSteps + s, a multiple of kStages plus s.
        copyAsyncWait<kStages - 2>();
        __syncthreads();
        {
          const int ahead = s + kStages - 1;  // the k-step loaded now, counted from this tile
          const int loadTile = tile + ahead / kFixedSteps;
          if (loadTile < tiles) loadAt(loadTile, ahead % kFixedSteps, ahead % kStages);
          copyAsyncCommit();
        }
        widen(s % kStages);
        mmaStage(s % kStages);
      }
      offerTile(rowBegin + tile * kBlockRows);
    }
  } else {
    for (int it = 0; it < total; ++it) {
      // Groups committed so far: kStages - 1 + it; k-step `it` is done when at most
      // kStages - 2 are still pending. The barrier also says every warp is done with the stage
      // the load below overwrites (it was read at it - 1).
      copyAsyncWait<kStages - 2>();
      __syncthreads();
      {
        const int next = it + kStages - 1;
        if (next < total) load(next, next % kStages);
        copyAsyncCommit();
      }
      widen(it % kStages);
      mmaStage(it % kStages);
      if (it % kSteps != kSteps - 1) continue;
      offerTile(rowBegin + (it / kSteps) * kBlockRows);
    }
  }
  copyAsyncWait<0>();  // nothing is in flight (only empty groups), but leave none behind
  __syncthreads();

  // Each query's best `keep` of this chunk (fewer when the chunk is short: the rest 0).
  for (int ql = warp; ql < kBlockQueries; ql += kThreads / 32) {
    const int q = queryBase + ql;
    if (q >= p.queryCount) continue;  // warp-uniform
    writePartial<kPerLane>(buffer + ql * p.capacity, count[ql], p.keep,
                           p.partials + (static_cast<size_t>(q) * p.chunks + chunk) * p.keep, lane);
  }
}

// One block per query: the best `keep` of its chunks x keep partial keys, sorted, decoded.
// The floor scan's passes use it too. Sample pass: `floorsOut` (where set) gets each query's
// keep-th key less one (0 where fewer than keep keys are real), the floor of the floors pass,
// whose lists are then the candidates. Repair (`listCounts` set): only the queries whose list
// overflowed (more than listCapacity keys appended: some were dropped), from the search scan's
// partial lists of their blocks; the other queries keep what they have.
__global__ void __launch_bounds__(kMergeThreads)
    fusedMergeKernel(const uint64_t* partials, int candidates, int keep, int64_t rowOffset,
                     float* scores, int64_t* rowsOut, uint64_t* floorsOut,
                     const unsigned* listCounts, int listCapacity) {
  extern __shared__ __align__(16) unsigned char shared[];
  uint64_t* keys = reinterpret_cast<uint64_t*>(shared);  // candidates
  uint64_t* chosen = keys + candidates;                  // keep
  __shared__ unsigned warpCounts[2][kMergeWarps];
  __shared__ int chosenCount;

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const size_t query = blockIdx.x;
  if (listCounts != nullptr && listCounts[query] <= static_cast<unsigned>(listCapacity)) return;
  const uint64_t* mine = partials + query * candidates;
  for (int i = tid; i < candidates; i += kMergeThreads) keys[i] = mine[i];
  if (tid == 0) chosenCount = 0;
  __syncthreads();

  // The largest prefix with >= keep keys at or above it; once exactly keep are, stop. The
  // caller guarantees at least keep real (non-zero, distinct) keys.
  uint64_t prefix = 0;
  for (int bit = 63, parity = 0; bit >= 0; --bit, parity ^= 1) {
    const uint64_t candidate = prefix | (1ull << bit);
    unsigned above = 0;
    for (int i = tid; i < candidates; i += kMergeThreads) above += keys[i] >= candidate ? 1u : 0u;
    above = __reduce_add_sync(0xFFFFFFFFu, above);
    // Alternate buffers: a warp writing the next round's counts cannot overwrite a count
    // another warp is still summing (it would have to pass the barrier of the round between).
    if (lane == 0) warpCounts[parity][warp] = above;
    __syncthreads();
    unsigned totalAbove = 0;
#pragma unroll
    for (int w = 0; w < kMergeWarps; ++w) totalAbove += warpCounts[parity][w];
    if (totalAbove >= static_cast<unsigned>(keep)) {
      prefix = candidate;
      if (totalAbove == static_cast<unsigned>(keep)) break;
    }
  }
  for (int i = tid; i < candidates; i += kMergeThreads) {
    if (keys[i] >= prefix && keys[i] != 0) {
      const int at = atomicAdd(&chosenCount, 1);
      if (at < keep) chosen[at] = keys[i];
    }
  }
  __syncthreads();
  const int held = min(chosenCount, keep);
  if (floorsOut != nullptr && tid == 0 && held < keep) floorsOut[query] = 0;
  for (int i = tid; i < keep; i += kMergeThreads) {
    if (i >= held) {  // unreachable when keep <= rows; keeps the output defined regardless
      scores[query * keep + i] = -__int_as_float(0x7F800000);
      rowsOut[query * keep + i] = -1;
      continue;
    }
    const uint64_t key = chosen[i];
    int rank = 0;
    for (int j = 0; j < held; ++j) rank += chosen[j] > key ? 1 : 0;
    scores[query * keep + rank] = keyScore(key);
    rowsOut[query * keep + rank] = rowOffset + static_cast<int64_t>(keyRow(key));
    if (floorsOut != nullptr && held == keep && rank == keep - 1) floorsOut[query] = key - 1;
  }
}

// ---- host side ----

struct Plan {
  int capacity = 0;
  int chunks = 0;
  int chunkRows = 0;
  size_t scanShared = 0;
  size_t mergeShared = 0;
  const char* kernel = "";   // fusedTopKKernelName's answer
  std::string hopperWhyNot;  // problem.hopper asked for, not taken: why
#if ELEANOR_FUSED_SM90
  bool hopper = false;  // the scan is fused_topk_sm90.cu's, planned in `sm90`
  FusedScanSm90Plan sm90;
#endif
};

using ScanKernel = void (*)(ScanParams);

// The dims with a compile-time scan kernel (each a whole number of pipeline rounds).
constexpr int kFixedDims[] = {384, 768};

template <bool kBf16>
ScanKernel scanKernelFor(int fixedDim) {
  switch (fixedDim) {
    case 384:
      return fusedScanKernel<kBf16, 384>;
    case 768:
      return fusedScanKernel<kBf16, 768>;
    default:
      return fusedScanKernel<kBf16, 0>;
  }
}

// The dim of `p`'s compile-time scan kernel where it has one and the problem asks for it
// (FusedTopKProblem::fixedDimKernel), else 0. int8 rows: D = 384 only.
int fixedDimFor(const FusedTopKProblem& p) {
  if (p.fixedDimKernel)
    for (const int d : kFixedDims)
      if (p.dim == d && (!p.int8Rows || d == 384)) return d;
  return 0;
}

ScanKernel scanKernelFor(const FusedTopKProblem& p) {
  if (p.int8Rows)
    return fixedDimFor(p) == 384 ? fusedScanKernel<false, 384, true>
                                 : fusedScanKernel<false, 0, true>;
  return p.dtype == FusedDtype::BFloat16 ? scanKernelFor<true>(fixedDimFor(p))
                                         : scanKernelFor<false>(fixedDimFor(p));
}

cudaError_t prepareScan(ScanKernel kernel, size_t shared, int* blocksPerSm) {
  cudaError_t rc = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(shared));
  if (rc != cudaSuccess) return rc;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocksPerSm, kernel, kThreads, shared);
}

// Fills `plan`; returns why the problem is not handled ("" when it is).
// `asked`: an alternative of the profiled Hopper scan (fusedTopKPhases); the default for the
// search.
std::string makePlan(const FusedTopKProblem& p, Plan& plan, const FusedScanVariant& asked = {}) {
  if (p.dtype != FusedDtype::BFloat16 && p.dtype != FusedDtype::Float16)
    return "dtype is not bfloat16 or float16";
  if (p.queryCount < 1 || p.queryCount > INT_MAX) return "query count out of range";
  if (p.rowCount < 1 || p.rowCount > INT_MAX - 2 * kBlockRows) return "row count out of range";
  if (p.dim < 8 || p.dim % 8 != 0 || p.dim > (1 << 20)) return "dim is not a multiple of 8";
  if (p.keep < 1 || p.keep > kFusedTopKMaxKeep || p.keep > p.rowCount)
    return "keep is not in 1..min(256, rows)";
  if (p.queries == nullptr || p.rows == nullptr) return "null input";
  if (reinterpret_cast<uintptr_t>(p.queries) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.rows) % (p.int8Rows ? 8 : 16) != 0)
    return p.int8Rows ? "queries not 16-byte or int8 rows not 8-byte aligned"
                      : "inputs are not 16-byte aligned";
  if (p.int8Rows && p.dtype != FusedDtype::Float16)
    return "int8 rows are scored against float16 queries";
  if (p.int8Rows && (p.rowScales == nullptr || reinterpret_cast<uintptr_t>(p.rowScales) % 4 != 0))
    return "int8 rows need their float32 scales";

  int current = -1;
  ELEANOR_CHECK_CUDA(cudaGetDevice(&current));
  if (current != p.device) return "the problem's device is not the current device";
  const FusedDevice device = fusedDevice(p.device);
  const int sms = device.sms, sharedOptIn = device.sharedOptIn;
  if (device.major < 8) return "needs compute capability 8.0 or later";

#if ELEANOR_FUSED_SM90
  // The Hopper kernel where asked for and it takes the problem; else the portable one.
  if (p.hopper != FusedHopper::Off && p.int8Rows)
    plan.hopperWhyNot = "int8 rows run on the portable kernel";
  else if (p.hopper != FusedHopper::Off)
    plan.hopperWhyNot =
        planFusedScanSm90(p, device, kMergeMaxCandidates / p.keep, plan.sm90, asked);
  if (p.hopper != FusedHopper::Off && plan.hopperWhyNot.empty()) {
    plan.hopper = true;
    plan.kernel = plan.sm90.kernelName;
    plan.chunks = plan.sm90.chunks;
    plan.mergeShared = mergeSharedBytes(int64_t{plan.chunks} * p.keep, p.keep);
    if (plan.sm90.floorScan)  // its two merges: the sample's partial lists, then the lists
      plan.mergeShared = std::max(
          {plan.mergeShared, mergeSharedBytes(int64_t{plan.sm90.sampleChunks} * p.keep, p.keep),
           mergeSharedBytes(plan.sm90.listCapacity, p.keep)});
    if (plan.mergeShared > static_cast<size_t>(sharedOptIn)) return "merge does not fit";
    return "";
  }
#else
  if (p.hopper != FusedHopper::Off)
    plan.hopperWhyNot = "this build has no Hopper kernel (it needs nvcc 12 or later)";
#endif

  // Room for 64 more candidates per query than kept (fewer cuts); 32 where memory is short.
  const int keepPadded = (p.keep + 31) / 32 * 32;
  plan.capacity = keepPadded + 64;
  if (scanSharedBytes(plan.capacity, p.int8Rows) > static_cast<size_t>(sharedOptIn))
    plan.capacity = keepPadded + 32;
  plan.scanShared = scanSharedBytes(plan.capacity, p.int8Rows);
  if (plan.scanShared > static_cast<size_t>(sharedOptIn))
    return "keep " + std::to_string(p.keep) + " needs " + std::to_string(plan.scanShared) +
           " bytes of shared memory per block; this device has " + std::to_string(sharedOptIn);

  int blocksPerSm = 0;
  ELEANOR_CHECK_CUDA(prepareScan(scanKernelFor(p), plan.scanShared, &blocksPerSm));
  if (blocksPerSm < 1) return "the scan kernel does not fit on this device";

  const RowChunks split =
      splitRows(p.queryCount, p.rowCount, kBlockQueries, kBlockRows,
                static_cast<int64_t>(sms) * blocksPerSm, kMergeMaxCandidates / p.keep);
  plan.chunks = split.chunks;
  plan.chunkRows = split.chunkRows;
  plan.mergeShared = mergeSharedBytes(int64_t{plan.chunks} * p.keep, p.keep);
  if (plan.mergeShared > static_cast<size_t>(sharedOptIn)) return "merge does not fit";
  plan.kernel = fixedDimFor(p) != 0 ? (p.int8Rows ? "fixed-dim-int8" : "fixed-dim")
                                    : (p.int8Rows ? "generic-int8" : "generic");
  return "";
}

// The merge of `candidates` keys per query (the scan's partial lists, or a floor scan's lists)
// into each query's window, on problem.stream; floorsOut, listCounts and listCapacity as
// fusedMergeKernel's.
void launchMerge(const FusedTopKProblem& problem, const Plan& plan, const uint64_t* partials,
                 int candidates, int64_t rowOffset, float* scores, int64_t* rowsOut,
                 uint64_t* floorsOut = nullptr, const unsigned* listCounts = nullptr,
                 int listCapacity = 0) {
  const size_t shared = mergeSharedBytes(candidates, problem.keep);
  if (shared > plan.mergeShared) throw InternalError("fusedTopK: a merge larger than planned");
  ELEANOR_CHECK_CUDA(cudaFuncSetAttribute(fusedMergeKernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(plan.mergeShared)));
  fusedMergeKernel<<<static_cast<unsigned>(problem.queryCount), kMergeThreads, shared,
                     static_cast<cudaStream_t>(problem.stream)>>>(
      partials, candidates, problem.keep, rowOffset, scores, rowsOut, floorsOut, listCounts,
      listCapacity);
  ELEANOR_CHECK_CUDA(cudaGetLastError());
}

// The scan's partial lists: `keep` 8-byte keys per query and row chunk.
size_t partialBytes(const FusedTopKProblem& problem, const Plan& plan) {
  return static_cast<size_t>(problem.queryCount) * plan.chunks * problem.keep * 8;
}

// Where fusedTopK's scratch goes (byte offsets into its workspace): the scan's partial lists;
// for a floor scan, room for the sample pass's or the repair's partial lists, then each
// query's floor, list and count.
struct Workspace {
  size_t floors = 0, lists = 0, counts = 0, bytes = 0;
};

Workspace workspaceFor(const FusedTopKProblem& problem, const Plan& plan) {
  Workspace w;
  w.bytes = partialBytes(problem, plan);
#if ELEANOR_FUSED_SM90
  if (plan.hopper && plan.sm90.floorScan) {
    const auto queries = static_cast<size_t>(problem.queryCount);
    w.floors = queries * std::max(plan.sm90.sampleChunks, plan.chunks) * problem.keep * 8;
    w.lists = w.floors + queries * 8;
    w.counts = w.lists + queries * plan.sm90.listCapacity * 8;
    w.bytes = w.counts + (queries * 4 + 7) / 8 * 8;
  }
#endif
  return w;
}

ScanParams paramsFor(const FusedTopKProblem& problem, const Plan& plan) {
  ScanParams params{};
  params.queries = static_cast<const uint16_t*>(problem.queries);
  params.rows = static_cast<const uint16_t*>(problem.rows);
  params.rows8 = problem.int8Rows ? static_cast<const int8_t*>(problem.rows) : nullptr;
  params.scales = problem.rowScales;
  params.queryCount = static_cast<int>(problem.queryCount);
  params.rowCount = static_cast<int>(problem.rowCount);
  params.dim = static_cast<int>(problem.dim);
  params.keep = problem.keep;
  params.capacity = plan.capacity;
  params.chunkRows = plan.chunkRows;
  params.chunks = plan.chunks;
  params.partials = nullptr;
  return params;
}

}  // namespace

FusedDevice fusedDevice(int device) {
  FusedDevice d;
  ELEANOR_CHECK_CUDA(cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, device));
  ELEANOR_CHECK_CUDA(cudaDeviceGetAttribute(&d.minor, cudaDevAttrComputeCapabilityMinor, device));
  ELEANOR_CHECK_CUDA(cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, device));
  ELEANOR_CHECK_CUDA(
      cudaDeviceGetAttribute(&d.sharedOptIn, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return d;
}

bool fusedTopKAvailable() {
  return true;
}

std::string fusedTopKUnsupported(const FusedTopKProblem& problem) {
  Plan plan;
  return makePlan(problem, plan);
}

std::string fusedTopKKernelName(const FusedTopKProblem& problem) {
  Plan plan;
  return makePlan(problem, plan).empty() ? plan.kernel : "";
}

size_t fusedTopKWorkspaceBytes(const FusedTopKProblem& problem) {
  Plan plan;
  if (!makePlan(problem, plan).empty()) return 0;
  return workspaceFor(problem, plan).bytes;
}

std::string fusedTopKHopperUnsupported(const FusedTopKProblem& problem) {
  if (problem.hopper == FusedHopper::Off) return "not asked for (FusedTopKProblem::hopper)";
  Plan plan;
  const std::string why = makePlan(problem, plan);
  return !plan.hopperWhyNot.empty() ? plan.hopperWhyNot : why;
}

std::string fusedTopKFloorScanUnsupported(const FusedTopKProblem& problem) {
  if (!problem.floorScan) return "not asked for (FusedTopKProblem::floorScan)";
  Plan plan;
  const std::string why = makePlan(problem, plan);
  if (!why.empty()) return why;
#if ELEANOR_FUSED_SM90
  if (plan.hopper) return plan.sm90.floorWhyNot;
#endif
  return std::string("the floor scan runs on the Hopper registers kernel, and ") + plan.kernel +
         " serves this search" + (plan.hopperWhyNot.empty() ? "" : " (" + plan.hopperWhyNot + ")");
}

std::string fusedTopKHopperFault() {
#if ELEANOR_FUSED_SM90
  return fusedScanSm90Fault();
#else
  return "";
#endif
}

namespace {

std::string notHopperKernels() {
  return "the problem is not a Hopper kernel's (hopper on a 9.0 device, keep <= " +
         std::to_string(kFusedTopKHopperMaxKeep) + ")";
}

}  // namespace

std::string fusedTopKScores(const FusedTopKProblem& problem, float* scores) {
  Plan plan;
  std::string why = makePlan(problem, plan);
  if (!why.empty()) return why;
#if ELEANOR_FUSED_SM90
  if (plan.hopper) {
    if (scores == nullptr) throw InternalError("fusedTopKScores: no output");
    ScanParams params = paramsFor(problem, plan);
    params.scores = scores;
    launchFusedScanSm90(problem, plan.sm90, params);
    return "";
  }
#endif
  (void)scores;
  return notHopperKernels();
}

std::string fusedTopKPhases(const FusedTopKProblem& asked, const FusedScanVariant& variant,
                            FusedScanPhases& out, float* scores, int64_t* rowsOut) {
  FusedTopKProblem problem = asked;
  problem.floorScan = false;  // the search kernel's scan, profiled
  Plan plan;
  std::string why = makePlan(problem, plan, variant);
  if (!why.empty()) return why;
#if ELEANOR_FUSED_SM90
  if (!plan.hopper) return plan.hopperWhyNot.empty() ? notHopperKernels() : plan.hopperWhyNot;
  if (problem.dtype != FusedDtype::BFloat16) return "the profiled Hopper scan is for bfloat16 only";
  // Its own scratch (partial lists, the sums) and events, released however this ends.
  const auto freeDevice = [](void* p) { (void)cudaFree(p); };
  const auto allocate = [&](size_t bytes) {
    void* p = nullptr;
    ELEANOR_CHECK_CUDA(cudaMalloc(&p, bytes));
    return std::unique_ptr<void, decltype(freeDevice)>(p, freeDevice);
  };
  const auto partials = allocate(partialBytes(problem, plan));
  const auto sums = allocate(kPhaseCount * sizeof(unsigned long long));
  const auto stream = static_cast<cudaStream_t>(problem.stream);
  ELEANOR_CHECK_CUDA(
      cudaMemsetAsync(sums.get(), 0, kPhaseCount * sizeof(unsigned long long), stream));
  const auto destroyEvent = [](cudaEvent_t e) { (void)cudaEventDestroy(e); };
  const auto event = [&] {
    cudaEvent_t e = nullptr;
    ELEANOR_CHECK_CUDA(cudaEventCreate(&e));
    return std::unique_ptr<CUevent_st, decltype(destroyEvent)>(e, destroyEvent);
  };
  const auto start = event(), stop = event();

  ScanParams params = paramsFor(problem, plan);
  params.partials = static_cast<uint64_t*>(partials.get());
  params.phases = static_cast<unsigned long long*>(sums.get());
  params.select = variant.select;
  params.prefetchAhead = variant.prefetchAhead;
  ELEANOR_CHECK_CUDA(cudaEventRecord(start.get(), stream));
  launchFusedScanSm90(problem, plan.sm90, params);
  ELEANOR_CHECK_CUDA(cudaEventRecord(stop.get(), stream));
  if (variant.select && scores != nullptr && rowsOut != nullptr)
    launchMerge(problem, plan, params.partials, plan.chunks * problem.keep, 0, scores, rowsOut);
  ELEANOR_CHECK_CUDA(cudaStreamSynchronize(stream));
  float ms = 0;
  ELEANOR_CHECK_CUDA(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  unsigned long long raw[kPhaseCount] = {};
  ELEANOR_CHECK_CUDA(cudaMemcpy(raw, sums.get(), sizeof(raw), cudaMemcpyDeviceToHost));

  const auto at = [&](FusedPhase phase) { return static_cast<double>(raw[phase]); };
  const double warps = std::max(at(kPhaseWarps), 1.0), tiles = std::max(at(kPhaseTiles), 1.0);
  out = FusedScanPhases{};
  out.kernel = plan.kernel;
  out.blocks = static_cast<int>(raw[kPhaseProducers]);
  out.tiles = at(kPhaseTiles) / warps;
  out.waitCycles = at(kPhaseWait) / tiles;
  out.productCycles = at(kPhaseProducts) / tiles;
  out.selectCycles = at(kPhaseSelect) / tiles;
  out.loopCycles = at(kPhaseLoop) / tiles;
  out.partialCycles = at(kPhasePartials) / warps;
  out.cutRounds = at(kPhaseRounds) / warps;
  out.slowTiles = at(kPhaseSlowTiles) / tiles;
  out.producerWaitCycles = at(kPhaseProducerWait) / std::max(at(kPhaseProducers), 1.0);
  out.milliseconds = ms;
  out.megahertz = ms > 0 ? at(kPhaseLoop) / warps / (ms * 1e3) : 0;
  return "";
#else
  (void)variant;
  (void)out;
  (void)scores;
  (void)rowsOut;
  return notHopperKernels();
#endif
}

const char* fusedTopK(const FusedTopKProblem& problem, int64_t rowOffset, float* scores,
                      int64_t* rowsOut, void* workspace, size_t workspaceBytes) {
  Plan plan;
  const std::string why = makePlan(problem, plan);
  if (!why.empty()) throw InternalError("fusedTopK called for an unsupported problem: " + why);
  const Workspace layout = workspaceFor(problem, plan);
  const size_t needed = layout.bytes;
  if (workspace == nullptr || workspaceBytes < needed || scores == nullptr || rowsOut == nullptr)
    throw InternalError("fusedTopK: missing output or workspace smaller than " +
                        std::to_string(needed) + " bytes");
  if (reinterpret_cast<uintptr_t>(workspace) % 8 != 0)
    throw InternalError("fusedTopK: workspace is not 8-byte aligned");

  const auto stream = static_cast<cudaStream_t>(problem.stream);
  ScanParams params = paramsFor(problem, plan);
  params.partials = static_cast<uint64_t*>(workspace);

#if ELEANOR_FUSED_SM90
  if (plan.hopper && plan.sm90.floorScan) {
    // The sample pass and its merge (each query's floor; its window goes to the outputs, which
    // the second merge overwrites), then every row above the floor into the query's list and
    // their merge; then, for the query blocks with a list that overflowed (rare: none where
    // the lists have room), the search's own scan and merge (blocks and queries without one
    // return at once).
    auto* base = static_cast<unsigned char*>(workspace);
    auto* floors = reinterpret_cast<uint64_t*>(base + layout.floors);
    auto* lists = reinterpret_cast<uint64_t*>(base + layout.lists);
    auto* counts = reinterpret_cast<unsigned*>(base + layout.counts);
    launchFusedScanSm90(problem, plan.sm90, params, FusedScanSm90Pass::Sample);
    launchMerge(problem, plan, params.partials, plan.sm90.sampleChunks * problem.keep, 0, scores,
                rowsOut, floors);
    ELEANOR_CHECK_CUDA(cudaMemsetAsync(lists, 0, layout.bytes - layout.lists, stream));
    params.partials = nullptr;
    params.floors = floors;
    params.lists = lists;
    params.listCounts = counts;
    launchFusedScanSm90(problem, plan.sm90, params, FusedScanSm90Pass::Floors);
    launchMerge(problem, plan, lists, plan.sm90.listCapacity, rowOffset, scores, rowsOut);
    params.partials = reinterpret_cast<uint64_t*>(base);
    launchFusedScanSm90(problem, plan.sm90, params, FusedScanSm90Pass::Repair);
    launchMerge(problem, plan, params.partials, plan.chunks * problem.keep, rowOffset, scores,
                rowsOut, nullptr, counts, plan.sm90.listCapacity);
    return plan.kernel;
  }
  if (plan.hopper) {
    launchFusedScanSm90(problem, plan.sm90, params);
  } else
#endif
  {
    const dim3 grid(static_cast<unsigned>((problem.queryCount + kBlockQueries - 1) / kBlockQueries),
                    static_cast<unsigned>(plan.chunks));
    scanKernelFor(problem)<<<grid, kThreads, plan.scanShared, stream>>>(params);
    ELEANOR_CHECK_CUDA(cudaGetLastError());
  }

  launchMerge(problem, plan, params.partials, plan.chunks * problem.keep, rowOffset, scores,
              rowsOut);
  return plan.kernel;
}

}  // namespace eleanor
