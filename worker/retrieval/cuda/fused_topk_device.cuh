// Device helpers shared by the fused top-k scan kernels (fused_topk.cu for sm_80 and later,
// fused_topk_sm90.cu for sm_90a): the ranking key and the warp's cut of a candidate buffer.
//
// Ranking key: (score, row) packed into 64 bits, score's order-preserving bits high and ~row
// low, so that one unsigned comparison orders by (score desc, row asc) and every key is
// distinct.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace eleanor {
namespace fused {

__device__ __forceinline__ uint32_t sharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8 x 8 matrices of 16-bit elements from shared memory, one 16-byte row address per lane
// (lanes 8m .. 8m + 7 address matrix m), into r[m]: with lanes 0-15 at rows 0-15 of a 16 x 16
// tile's first 8 columns and lanes 16-31 at its last 8, r is the A fragment of
// mma.m16n8k16 (and of a warp's 16 rows of wgmma's register A).
__device__ __forceinline__ void loadMatrixX4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

// (score desc, row asc) as one unsigned order; NaN ranks as -inf. Every real key is >= 2^55,
// so 0 marks an empty slot.
__device__ __forceinline__ uint64_t makeKey(float score, uint32_t row) {
  uint32_t u = __float_as_uint(score);
  if (score != score) u = 0xFF800000u;
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(u) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - row);
}

// The score of a key; NaN for key 0 (so that `score < keyScore(0)` is never true).
__device__ __forceinline__ float keyScore(uint64_t key) {
  uint32_t u = static_cast<uint32_t>(key >> 32);
  u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
  return __uint_as_float(u);
}

__device__ __forceinline__ uint32_t keyRow(uint64_t key) {
  return 0xFFFFFFFFu - static_cast<uint32_t>(key);
}

// One warp cuts buffer[0, n) (keep < n <= 32 * kPerLane, distinct keys) to its `keep` largest keys,
// stored in buffer[0, keep) in no particular order; returns the smallest of them (the keep-th
// largest).
template <int kPerLane>
__device__ __forceinline__ uint64_t compactToKeep(uint64_t* buffer, int n, int keep, int lane) {
  uint64_t items[kPerLane];
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int index = lane + 32 * j;
    items[j] = index < n ? buffer[index] : 0;
  }
  // Radix selection, most significant bit first: the largest prefix with >= keep keys at or
  // above it. Stops early once exactly `keep` keys are at or above it.
  uint64_t prefix = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t candidate = prefix | (1ull << bit);
    unsigned above = 0;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) above += items[j] >= candidate ? 1u : 0u;
    above = __reduce_add_sync(0xFFFFFFFFu, above);
    if (above >= static_cast<unsigned>(keep)) {
      prefix = candidate;
      if (above == static_cast<unsigned>(keep)) break;
    }
  }
  // Exactly `keep` keys are >= prefix (the keys are distinct); the threshold is their minimum.
  uint64_t localMin = ~0ull;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j)
    if (items[j] >= prefix && items[j] < localMin) localMin = items[j];
  const uint32_t minHigh = __reduce_min_sync(0xFFFFFFFFu, static_cast<uint32_t>(localMin >> 32));
  const uint32_t minLow =
      __reduce_min_sync(0xFFFFFFFFu, static_cast<uint32_t>(localMin >> 32) == minHigh
                                         ? static_cast<uint32_t>(localMin)
                                         : 0xFFFFFFFFu);
  const uint64_t threshold = (static_cast<uint64_t>(minHigh) << 32) | minLow;

  __syncwarp();  // every lane has read the buffer before any lane rewrites it
  const unsigned lanesBelow = (1u << lane) - 1u;
  int written = 0;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const bool take = items[j] >= threshold;  // 0 (empty) never: threshold is a real key
    const unsigned ballot = __ballot_sync(0xFFFFFFFFu, take);
    if (take) buffer[written + __popc(ballot & lanesBelow)] = items[j];
    written += __popc(ballot);
  }
  __syncwarp();
  return threshold;
}

// Offers one score of a query to its candidate buffer (`buffer`, `capacity` entries, `count`
// keys offered since its last cut) against the query's threshold key and that key's score.
// True when the score is settled: out (below the threshold) or in the buffer; false when the
// buffer was full (the caller offers it again after the cut).
__device__ __forceinline__ bool offerScore(float score, uint32_t row, float thresholdScore,
                                           uint64_t thresholdKey, uint64_t* buffer, int* count,
                                           int capacity) {
  if (score < thresholdScore) return true;  // a cheap test that settles almost all
  const uint64_t key = makeKey(score, row);
  if (key <= thresholdKey) return true;
  const int slot = atomicAdd(count, 1);
  if (slot >= capacity) return false;
  buffer[slot] = key;
  return true;
}

// After a round of offers: each warp `warp` of `warps` cuts the overflowing buffers of queries
// first + warp, first + warp + warps, ... (< last) back to `keep` and raises their thresholds.
template <int kPerLane>
__device__ __forceinline__ void cutOverflowing(uint64_t* buffers, uint64_t* threshold, int* count,
                                               int capacity, int keep, int first, int last,
                                               int warp, int warps, int lane) {
  for (int ql = first + warp; ql < last; ql += warps) {
    if (count[ql] <= capacity) continue;  // warp-uniform: one shared word
    const uint64_t cut =
        compactToKeep<kPerLane>(buffers + static_cast<size_t>(ql) * capacity, capacity, keep, lane);
    if (lane == 0) {
      threshold[ql] = cut;
      count[ql] = keep;
    }
  }
}

// One warp appends a query's `n` buffered keys to its list in global memory (`capacity`
// entries, shared by every block that scans the query; `*listCount` keys appended so far). Keys
// past the capacity are dropped but counted, so that the merge sees the list overflowed.
__device__ __forceinline__ void appendToList(const uint64_t* buffer, int n, uint64_t* list,
                                             unsigned* listCount, int capacity, int lane) {
  unsigned base = 0;
  if (lane == 0) base = atomicAdd(listCount, static_cast<unsigned>(n));
  base = __shfl_sync(0xFFFFFFFFu, base, 0);
  for (int j = lane; j < n; j += 32)
    if (base + j < static_cast<unsigned>(capacity)) list[base + j] = buffer[j];
}

// After a round of offers of the floor scan: each warp `warp` of `warps` appends the full
// buffers of queries first + warp, first + warp + warps, ... (< last; `lists` and `listCounts`
// at the block's first query) to their lists and empties them; the thresholds stay.
__device__ __forceinline__ void flushOverflowing(uint64_t* buffers, int* count, int capacity,
                                                 uint64_t* lists, unsigned* listCounts,
                                                 int listCapacity, int first, int last, int warp,
                                                 int warps, int lane) {
  for (int ql = first + warp; ql < last; ql += warps) {
    if (count[ql] <= capacity) continue;  // warp-uniform: one shared word
    appendToList(buffers + static_cast<size_t>(ql) * capacity, capacity,
                 lists + static_cast<size_t>(ql) * listCapacity, &listCounts[ql], listCapacity,
                 lane);
    __syncwarp();  // every lane has read the buffer before it is emptied
    if (lane == 0) count[ql] = 0;
  }
}

// One warp writes a query's partial list `out`: the best `keep` of its `held` buffered keys
// (cut first where held > keep), 0 past them.
template <int kPerLane>
__device__ __forceinline__ void writePartial(uint64_t* buffer, int held, int keep, uint64_t* out,
                                             int lane) {
  if (held > keep) {
    compactToKeep<kPerLane>(buffer, held, keep, lane);
    held = keep;
  }
  for (int j = lane; j < keep; j += 32) out[j] = j < held ? buffer[j] : 0;
}

}  // namespace fused
}  // namespace eleanor
