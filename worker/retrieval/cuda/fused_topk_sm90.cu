// Fused similarity + top-k scans for Hopper (sm_90a: H100, H200), fused_topk_sm90.h. Same
// contract as fused_topk.cu's portable scan kernel (same keys, same partial lists, same
// merge), with the matrix products on Hopper's warpgroup MMA (wgmma) fed by its tensor memory
// accelerator (TMA), which the portable kernel's mma.sync cannot reach: on an H200 the portable
// kernel kept the tensor pipe 14% busy.
//
// Block: 128 queries, a contiguous chunk of rows, 384 threads: a producer warpgroup (one of
// its threads issues the loads) and two consumer warpgroups; consumer warpgroup w owns
// queries [64w, 64w + 64) of the block. Two variants:
//  - SharedQueries (any dim): per stage the producer's one thread loads 128 queries x 64 and
//    192 rows x 64 elements (TMA, 128-byte swizzle, zero fill past the matrix; 3 stages); each
//    warpgroup issues four wgmma.m64n192k16 per stage with both operands in shared memory.
//    Every block reads its queries again for every row tile (through L2).
//  - RegisterQueries (D = 384): each warpgroup holds its 64 queries in registers for the whole
//    chunk (96 per thread, loaded once through shared memory with ldmatrix); stages hold only
//    rows, 128 x 64 elements (6 stages: a row tile), and each warpgroup issues
//    wgmma.m64n128k16 with A from registers: rows are the only loads. Paired (opt-in,
//    ELEANOR_FUSED_SM90_CLUSTER=2): two blocks of a cluster, on two SMs, take the same chunk
//    for different queries; each loads half of every row stage and the TMA multicasts it into
//    both, so a row is read from L2 once per 256 queries instead of per 128. A stage is
//    reused once the consumers of both blocks have released it (remote mbarrier arrivals).
// Stages signal a "full" mbarrier (the producer's arrival and the TMA bytes) and are reused
// once their "empty" mbarrier has an arrival from every consumer warp. A warpgroup keeps one
// group of wgmma in flight and releases the stage of the group before. After a row tile's
// last stage its scores are in registers: it offers them to its queries' candidate buffers as
// the portable kernel does (the largest of a thread's scores of a query against the query's
// threshold settles most tiles at once; the rest are appended; an overflowing buffer is cut
// back to `keep` by one warp and its threshold raised), synchronising on its own named
// barrier, so that one warpgroup's selection can overlap the other's products. At the end each
// warpgroup writes its queries' best `keep` of the chunk as partial lists.
//
// Error bound: as fused_topk.cu's. The products of bf16/fp16 inputs are exact in fp32 and
// wgmma sums them in fp32, in an order of its own: inside the same 2·d·2^-24 allowance.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
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

using fused::appendToList;
using fused::cutOverflowing;
using fused::flushOverflowing;
using fused::keyScore;
using fused::loadMatrixX4;
using fused::offerScore;
using fused::sharedAddress;
using fused::writePartial;

constexpr int kQueries = 128;  // per block: two consumer warpgroups of 64
constexpr int kChunkK = 64;    // elements of d per stage: one 128-byte (swizzled) shared row
constexpr int kConsumerWarps = 8;
// + the producer warpgroup: one of its threads loads, and all four warps give their registers
// to the consumers (setmaxnreg), which hold 64 or 96 accumulators, 96 registers of queries in
// the RegisterQueries variant, and the selection's state.
constexpr int kThreads = kConsumerWarps * 32 + 128;
constexpr int kProducerRegisters = 40;
constexpr int kConsumerRegisters = 232;  // 2 x 232 + 40 <= 512 per SM sub-partition and thread
constexpr int kMaxCapacity = 128;        // candidate buffer per query
constexpr int kPerLane = kMaxCapacity / 32;
constexpr int kRegisterDim = 384;  // the RegisterQueries variant's dim
// The floor scan's floors pass (RegisterQueries): buffers of kFloorCapacity keys per query,
// appended to the query's list when full, leave room for kFloorStages stages of rows (1.67
// row tiles in flight instead of one): 227 KB of shared memory in all, what a 9.0 device has.
constexpr int kFloorCapacity = 64;
constexpr int kFloorStages = 10;

// What a scan kernel computes: the search's per-chunk best `keep` (partial lists), the floor
// scan's sample pass (the same over every tileStride-th row tile), its floors pass (every row
// above a query's floor, appended to the query's list) or its repair (the search's, in the
// blocks with a query whose list overflowed; the others return at once).
enum ScanPass : int { kPassSearch, kPassSample, kPassFloors, kPassRepair };

// The two variants' shapes and shared memory. kDeep (RegisterQueries, an experiment of the
// profiled build: kExperimentDeepRing): 8 stages of rows instead of 6, a third of a tile more
// in flight, in the room of a third of the candidate buffers (keep + 32 for keep 64).
// kFloorRing (RegisterQueries, the floor scan's floors pass): kFloorStages stages.
template <FusedHopper V, bool kDeep = false, bool kFloorRing = false>
struct Shape {
  static constexpr bool kRegisterQueries = V == FusedHopper::RegisterQueries;
  static_assert(!(kDeep || kFloorRing) || kRegisterQueries,
                "the deep and floor rings are the registers kernel's");
  static constexpr int kRows = kRegisterQueries ? 128 : 192;  // rows per tile: wgmma's N
  static constexpr int kStages = kRegisterQueries ? (kFloorRing ? kFloorStages : kDeep ? 8 : 6) : 3;
  static constexpr int kQueryTileBytes = kRegisterQueries ? 0 : kQueries * kChunkK * 2;
  static constexpr int kRowTileBytes = kRows * kChunkK * 2;
  static constexpr int kStageBytes = kQueryTileBytes + kRowTileBytes;
  static constexpr size_t kStagesBytes = static_cast<size_t>(kStages) * kStageBytes;
  static constexpr int kAccumulators = kRows / 2;  // 64 x kRows floats over 128 threads
  // RegisterQueries: the block's queries staged once, rows padded by 16 bytes (ldmatrix
  // without bank conflicts), in the stages' and buffers' room before either is used.
  static constexpr int kStagingStride = kRegisterDim + 8;
  static constexpr size_t kStagingBytes =
      kRegisterQueries ? static_cast<size_t>(kQueries) * kStagingStride * 2 : 0;
  static_assert(kStageBytes % 1024 == 0 && kQueryTileBytes % 2048 == 0,
                "128-byte swizzled tiles start on 1024-byte boundaries");

  // Stages (1024-byte aligned), candidate buffers, thresholds, counts, barriers (full and
  // empty per stage, staged); plus 1024 bytes to align the dynamic base.
  static size_t sharedBytes(int capacity) {
    const size_t buffers = static_cast<size_t>(kQueries) * capacity * 8;
    return std::max(kStagesBytes + buffers, kStagingBytes) + kQueries * 8 + kQueries * 4 +
           (2 * kStages + 1) * 8 + 1024;
  }
};

using ScanParams = FusedScanParams;  // capacity <= kMaxCapacity, chunkRows a multiple of kRows

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

// Whether the barrier's phase of parity `parity` has completed. kCluster 2: ordered after the
// arrivals of both blocks of a cluster (acquire at cluster scope), not only this block's.
#define ELEANOR_TRY_WAIT(SEMANTICS)          \
  asm volatile(                              \
      "{\n"                                  \
      ".reg .pred p;\n"                      \
      "mbarrier.try_wait.parity" SEMANTICS   \
      ".shared::cta.b64 p, [%1], %2;\n"      \
      "selp.u32 %0, 1, 0, p;\n"              \
      "}\n"                                  \
      : "=r"(done)                           \
      : "r"(sharedAddress(bar)), "r"(parity) \
      : "memory")
template <int kCluster = 1>
__device__ __forceinline__ bool barrierTryWait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  if constexpr (kCluster > 1)
    ELEANOR_TRY_WAIT(".acquire.cluster");
  else
    ELEANOR_TRY_WAIT("");
  return done != 0;
}
#undef ELEANOR_TRY_WAIT

// Paired blocks (a cluster of two): this block's rank in its cluster, 0 or 1.
__device__ __forceinline__ uint32_t clusterRank() {
  uint32_t rank = 0;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  return rank;
}

// Every thread of both blocks of the cluster (a __syncthreads across the pair).
__device__ __forceinline__ void clusterSync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}

// An arrival on the barrier at the same place in block `rank` of the cluster.
__device__ __forceinline__ void barrierArriveRemote(uint64_t* bar, uint32_t rank) {
  asm volatile(
      "{\n"
      ".reg .b32 remote;\n"
      "mapa.shared::cluster.u32 remote, %0, %1;\n"
      "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [remote];\n"
      "}\n" ::"r"(sharedAddress(bar)),
      "r"(rank)
      : "memory");
}

// TMA with multicast: the box into shared `dst` of every block of the cluster in `blocks`
// (a bit per rank), each completing on its own barrier at the place of `bar`.
__device__ __forceinline__ void tmaLoadMulticast(void* dst, const CUtensorMap* map, int c0, int c1,
                                                 uint64_t* bar, uint16_t blocks) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      ".multicast::cluster [%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(sharedAddress(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(sharedAddress(bar)), "h"(blocks)
      : "memory");
}

__device__ __forceinline__ uint64_t nanoseconds() {
  uint64_t t = 0;
  asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
  return t;
}

// The producer's wait for the completion of the barrier's phase of parity `parity`. More than
// 10 s is a fault of this kernel (a lost TMA, a miscounted arrival): it writes what it waited
// for to the host-visible fault record (fusedTopKHopperFault) and stops the kernel (a launch
// failure on the host) instead of hanging the device. No printf: a call anywhere in the
// kernel makes ptxas serialise its wgmma. The consumers wait without a limit (a trap on their
// path costs them the registers setmaxnreg gives them): when they are stuck, so is the
// producer, which waits for them, or for their last releases once its loads are issued.
enum Waited : int { kWaitedEmpty = 1, kWaitedStaged = 2 };

template <int kCluster = 1>
__device__ __forceinline__ void producerWait(uint64_t* bar, uint32_t parity, int* fault,
                                             Waited which, int stage) {
  if (barrierTryWait<kCluster>(bar, parity)) return;
  const uint64_t start = nanoseconds();
  while (!barrierTryWait<kCluster>(bar, parity)) {
    if (nanoseconds() - start < 10'000'000'000ull) continue;
    if (fault != nullptr) {
      volatile int* record = fault;
      record[1] = blockIdx.x;
      record[2] = blockIdx.y;
      record[3] = which;
      record[4] = stage;
      record[5] = static_cast<int>(parity);
      __threadfence_system();
      record[0] = 1;
      __threadfence_system();
    }
    __trap();
  }
}

__device__ __forceinline__ void consumerWait(uint64_t* bar, uint32_t parity) {
  while (!barrierTryWait(bar, parity)) {
  }
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

// TMA: a hint to bring the box of `map` at (c0, c1) into L2 (no shared memory, no barrier).
__device__ __forceinline__ void tmaPrefetchL2(const CUtensorMap* map, int c0, int c1) {
  asm volatile("cp.async.bulk.prefetch.tensor.2d.L2.global.tile [%0, {%1, %2}];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(c0), "r"(c1)
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

// The warpgroup's registers per thread (a multiple of 8, 24 .. 256): down gives them back to
// the SM, up takes them.
template <int kRegisters>
__device__ __forceinline__ void registersDown() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

template <int kRegisters>
__device__ __forceinline__ void registersUp() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}

// Orders this thread's shared-memory accesses before later TMA (async proxy) ones.
__device__ __forceinline__ void asyncProxyFence() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
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
template <int N>
__device__ __forceinline__ void accumulatorsWritten(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define ELEANOR_WGMMA_D8(i)                                                                   \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
      "+f"(d[i + 6]), "+f"(d[i + 7])
// The accumulators of m64n192 (96 per thread) and of m64n128 (64), as asm operands.
#define ELEANOR_WGMMA_D96                                                                     \
  ELEANOR_WGMMA_D8(0), ELEANOR_WGMMA_D8(8), ELEANOR_WGMMA_D8(16), ELEANOR_WGMMA_D8(24),       \
      ELEANOR_WGMMA_D8(32), ELEANOR_WGMMA_D8(40), ELEANOR_WGMMA_D8(48), ELEANOR_WGMMA_D8(56), \
      ELEANOR_WGMMA_D8(64), ELEANOR_WGMMA_D8(72), ELEANOR_WGMMA_D8(80), ELEANOR_WGMMA_D8(88)
#define ELEANOR_WGMMA_D64                                                               \
  ELEANOR_WGMMA_D8(0), ELEANOR_WGMMA_D8(8), ELEANOR_WGMMA_D8(16), ELEANOR_WGMMA_D8(24), \
      ELEANOR_WGMMA_D8(32), ELEANOR_WGMMA_D8(40), ELEANOR_WGMMA_D8(48), ELEANOR_WGMMA_D8(56)
#define ELEANOR_WGMMA_SS_M64N192K16(TYPE)                                                \
  asm volatile(                                                                          \
      "{\n"                                                                              \
      ".reg .pred p;\n"                                                                  \
      "setp.ne.b32 p, %98, 0;\n"                                                         \
      "wgmma.mma_async.sync.aligned.m64n192k16.f32." TYPE "." TYPE                       \
      " {"                                                                               \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, " \
      "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, " \
      "%34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, " \
      "%50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, " \
      "%66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, " \
      "%82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"             \
      "}, %96, %97, p, 1, 1, 0, 0;\n"                                                    \
      "}\n"                                                                              \
      : ELEANOR_WGMMA_D96                                                                \
      : "l"(descA), "l"(descB), "r"(accumulate))
#define ELEANOR_WGMMA_RS_M64N128K16(TYPE)                                                \
  asm volatile(                                                                          \
      "{\n"                                                                              \
      ".reg .pred p;\n"                                                                  \
      "setp.ne.b32 p, %69, 0;\n"                                                         \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                       \
      " {"                                                                               \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, " \
      "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, " \
      "%34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, " \
      "%50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"             \
      "}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n"                                      \
      "}\n"                                                                              \
      : ELEANOR_WGMMA_D64                                                                \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB), "r"(accumulate))

// d (64 x 192, fp32) = A (64 x 16) · B (192 x 16)^T + (accumulate ? d : 0), A and B K-major in
// shared memory. d[4j + e] is row (warp % 4)·16 + lane/4 + 8·(e/2), column 8j + 2·(lane % 4) +
// e % 2 (the mma.m16n8 accumulator layout, repeated along N).
template <bool kBf16>
__device__ __forceinline__ void wgmma(float (&d)[96], uint64_t descA, uint64_t descB,
                                      uint32_t accumulate) {
  if constexpr (kBf16) {
    ELEANOR_WGMMA_SS_M64N192K16("bf16");
  } else {
    ELEANOR_WGMMA_SS_M64N192K16("f16");
  }
}

// d (64 x 128) = A (64 x 16, registers: this warp's 16 rows as mma.m16n8k16's A fragment) ·
// B (128 x 16, K-major in shared memory)^T + (accumulate ? d : 0); d as above.
template <bool kBf16>
__device__ __forceinline__ void wgmma(float (&d)[64], const uint32_t (&a)[4], uint64_t descB,
                                      uint32_t accumulate) {
  if constexpr (kBf16) {
    ELEANOR_WGMMA_RS_M64N128K16("bf16");
  } else {
    ELEANOR_WGMMA_RS_M64N128K16("f16");
  }
}

#undef ELEANOR_WGMMA_RS_M64N128K16
#undef ELEANOR_WGMMA_SS_M64N192K16
#undef ELEANOR_WGMMA_D64
#undef ELEANOR_WGMMA_D96
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

// A consumer thread's view of its warpgroup's queries: the candidate buffers, the selection
// and the outputs. Thread (warp, lane) of warpgroup wg holds the scores of block queries
// myQuery and myQuery + 8 against rows myColumn, myColumn + 1 (mod 8) of the tile.
struct Selection {
  const ScanParams& p;
  uint64_t* buffer;     // kQueries x p.capacity keys
  uint64_t* threshold;  // per block query: the key a candidate must beat (0: none yet)
  int* count;           // per block query: keys offered to its buffer since its last cut
  int queryBase, rowEnd, lane, warpInWg, barrierId, firstQuery, myQuery, myColumn;
  // kProfile: offer rounds that overflowed a buffer, and tiles where some lane of the warp
  // passed the quick rejection (FusedPhase).
  int rounds = 0, slowTiles = 0;

  // The tile at rows [rowTile, rowTile + kRows) is complete in d: offer its scores to the
  // candidate buffers. pending[h] bit 2j + b is d[4j + 2h + b]: query myQuery + 8h, row
  // rowTile + 8j + myColumn + b. kGrouped (an experiment of the profiled build): the quick
  // rejection per group of 8 of a thread's scores of a query (4 column pairs) instead of all of
  // them, so that a score above the threshold sends only its group the long way.
  // kFlush (the floors pass): a full buffer is appended to its query's list and emptied, its
  // threshold (the floor) kept, instead of cut back to `keep`.
  template <int kRows, bool kProfile, bool kGrouped = false, bool kFlush = false>
  __device__ __forceinline__ void offer(const float (&d)[kRows / 2], int rowTile) {
    constexpr int kGroups = kRows / 32;  // of 4 column pairs (8 scores) per thread and query
    constexpr uint64_t kTileBits = (1ull << (kRows / 4)) - 1;  // a thread's scores of a query
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
    for (bool first = true;; first = false) {
      uint64_t thresholdKey[2];
      float thresholdScore[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        thresholdKey[h] = threshold[myQuery + 8 * h];
        thresholdScore[h] = keyScore(thresholdKey[h]);
        // Quick rejection, as in fused_topk.cu: the largest of the thread's scores of the
        // query below its threshold's score settles them all (fmaxf skips NaN; a group of NaN
        // alone goes the long way, where NaN ranks as -inf).
        if constexpr (kGrouped) {
#pragma unroll
          for (int g = 0; g < kGroups; ++g) {
            float best = fmaxf(d[16 * g + 2 * h], d[16 * g + 2 * h + 1]);
#pragma unroll
            for (int j = 4 * g + 1; j < 4 * g + 4; ++j)
              best = fmaxf(best, fmaxf(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]));
            if (best < thresholdScore[h]) pending[h] &= ~(0xFFull << (8 * g));
          }
        } else {
          float best = fmaxf(d[2 * h], d[2 * h + 1]);
#pragma unroll
          for (int j = 1; j < kRows / 8; ++j)
            best = fmaxf(best, fmaxf(d[4 * j + 2 * h], d[4 * j + 2 * h + 1]));
          if (best < thresholdScore[h]) pending[h] = 0;
        }
      }
      if constexpr (kProfile)
        if (first) slowTiles += __any_sync(0xFFFFFFFFu, (pending[0] | pending[1]) != 0) ? 1 : 0;
      bool failed = false;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (pending[h] == 0) continue;
        const int ql = myQuery + 8 * h;
#pragma unroll
        for (int g = 0; g < kGroups; ++g) {
          if constexpr (kGrouped)
            if (((pending[h] >> (8 * g)) & 0xFFull) == 0) continue;
#pragma unroll
          for (int j = 4 * g; j < 4 * g + 4; ++j)
#pragma unroll
            for (int b = 0; b < 2; ++b) {
              const uint64_t bit = 1ull << (2 * j + b);
              if (!(pending[h] & bit)) continue;
              if (offerScore(d[4 * j + 2 * h + b],
                             static_cast<uint32_t>(rowTile + 8 * j + myColumn + b),
                             thresholdScore[h], thresholdKey[h],
                             buffer + static_cast<size_t>(ql) * p.capacity, &count[ql], p.capacity))
                pending[h] &= ~bit;
              else
                failed = true;  // stays pending: offered again after the cut below
            }
        }
      }
      // Every offer of this round is in; did any buffer of this warpgroup overflow?
      if (!warpgroupBarrierOr(barrierId, failed)) break;
      ++rounds;
      if constexpr (kFlush)
        flushOverflowing(buffer, count, p.capacity,
                         p.lists + static_cast<size_t>(queryBase) * p.listCapacity,
                         p.listCounts + queryBase, p.listCapacity, firstQuery, firstQuery + 64,
                         warpInWg, 4, lane);
      else
        cutOverflowing<kPerLane>(buffer, threshold, count, p.capacity, p.keep, firstQuery,
                                 firstQuery + 64, warpInWg, 4, lane);
      warpgroupBarrier(barrierId);
    }
  }

  // Diagnostics: the tile's scores as they are, to p.scores.
  template <int kRows>
  __device__ __forceinline__ void writeScores(const float (&d)[kRows / 2], int rowTile) {
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
  }

  // The floors pass: what each query's buffer still holds, appended to its list. The last offer
  // round's barrier has every offer of this warpgroup in.
  __device__ __forceinline__ void flushAll() {
    for (int ql = firstQuery + warpInWg; ql < firstQuery + 64; ql += 4) {
      const int q = queryBase + ql;
      const int n = min(count[ql], p.capacity);
      if (q >= p.queryCount || n == 0) continue;  // warp-uniform
      appendToList(buffer + static_cast<size_t>(ql) * p.capacity, n,
                   p.lists + static_cast<size_t>(q) * p.listCapacity, &p.listCounts[q],
                   p.listCapacity, lane);
    }
  }

  // Each query's best `keep` of chunk `chunk` (fewer when the chunk is short: the rest 0). The
  // last offer round's barrier has every offer of this warpgroup in.
  __device__ __forceinline__ void writePartials(int chunk) {
    for (int ql = firstQuery + warpInWg; ql < firstQuery + 64; ql += 4) {
      const int q = queryBase + ql;
      if (q >= p.queryCount) continue;  // warp-uniform
      writePartial<kPerLane>(buffer + static_cast<size_t>(ql) * p.capacity, count[ql], p.keep,
                             p.partials + (static_cast<size_t>(q) * p.chunks + chunk) * p.keep,
                             lane);
    }
  }
};

// kCluster 2: paired blocks (RegisterQueries only), launched as clusters of two along x; the
// row map's boxes are half a tile (kRows / 2 rows). kProfile: the diagnostics build
// (fusedTopKPhases), which sums its clock by phase into p.phases and selects only where
// p.select; the search's kernels are built without it. kExperiments (profiled build only):
// FusedExperiment bits, each a build of its own (chosen at run time next to the search's
// selection, the grouped one spills). kPass: ScanPass (the floor scan's passes: single blocks
// of the RegisterQueries variant, not profiled).
template <bool kBf16, FusedHopper V, int kCluster, bool kProfile, int kExperiments = 0,
          int kPass = kPassSearch>
__global__ void __launch_bounds__(kThreads, 1)
    hopperScanKernel(const __grid_constant__ CUtensorMap queryMap,
                     const __grid_constant__ CUtensorMap rowMap, ScanParams p) {
  constexpr bool kGrouped = (kExperiments & kExperimentGroupedOffer) != 0;
  constexpr bool kPrefetch = (kExperiments & kExperimentPrefetch) != 0;
  using S = Shape<V, (kExperiments & kExperimentDeepRing) != 0, kPass == kPassFloors>;
  static_assert(kCluster == 1 || (kCluster == 2 && S::kRegisterQueries),
                "paired blocks load rows only: the RegisterQueries variant");
  static_assert(kPass == kPassSearch ||
                    (S::kRegisterQueries && kCluster == 1 && !kProfile && kExperiments == 0),
                "the floor scan's passes are single blocks of the registers kernel");
  if constexpr (kPass == kPassRepair) {
    const int q = blockIdx.x * kQueries + static_cast<int>(threadIdx.x);
    const bool overflowed = threadIdx.x < kQueries && q < p.queryCount &&
                            p.listCounts[q] > static_cast<unsigned>(p.listCapacity);
    if (!__syncthreads_or(overflowed)) return;
  }
  const uint32_t rank = kCluster > 1 ? clusterRank() : 0;
  // A consumer warp's release of a barrier: its own block's, and the pair's other block's,
  // whose producer also loads into this block's stages.
  const auto release = [&](uint64_t* bar) {
    barrierArrive(bar);
    if constexpr (kCluster > 1) barrierArriveRemote(bar, rank ^ 1u);
  };
  extern __shared__ __align__(1024) unsigned char sharedRaw[];
  unsigned char* shared = sharedRaw + ((1024 - (sharedAddress(sharedRaw) & 1023)) & 1023);
  unsigned char* stages = shared;
  uint64_t* buffer = reinterpret_cast<uint64_t*>(shared + S::kStagesBytes);
  uint64_t* threshold = buffer + static_cast<size_t>(kQueries) * p.capacity;
  int* count = reinterpret_cast<int*>(threshold + kQueries);
  uint64_t* full = reinterpret_cast<uint64_t*>(count + kQueries);
  uint64_t* empty = full + S::kStages;

  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int queryBase = blockIdx.x * kQueries;
  const int chunk = blockIdx.y;
  const int rowBegin = chunk * p.chunkRows;
  // The sample pass: chunk c holds sampled tiles [c, c + 1) x chunkTiles, sampled tile j being
  // the shard's row tile j x tileStride (only the shard's last tile is short); else the chunk's
  // own rows.
  const int chunkTiles = p.chunkRows / S::kRows;
  const int rowEnd = kPass == kPassSample ? p.rowCount : min(p.rowCount, rowBegin + p.chunkRows);
  int tiles = (rowEnd - rowBegin + S::kRows - 1) / S::kRows;
  const int tileStride = kPass == kPassSample ? p.tileStride : 1;
  if constexpr (kPass == kPassSample) {
    const int sampled = ((p.rowCount + S::kRows - 1) / S::kRows + tileStride - 1) / tileStride;
    tiles = max(0, min(chunkTiles, sampled - chunk * chunkTiles));
  }
  // The first row of the chunk's tile `tile`.
  const auto tileRow = [=](int tile) {
    return kPass == kPassSample ? (chunk * chunkTiles + tile) * tileStride * S::kRows
                                : rowBegin + tile * S::kRows;
  };
  const int kChunks =
      S::kRegisterQueries ? kRegisterDim / kChunkK : (p.dim + kChunkK - 1) / kChunkK;
  const int total = tiles * kChunks;

  // RegisterQueries: the block's queries go to a staging copy in shared memory first; each
  // consumer warp then takes its 16 as the A fragments of the 24 k-steps (below), and the
  // producer's loads, which overwrite the staging, wait for all eight (barrier `staged`).
  uint64_t* staged = empty + S::kStages;
  const uint16_t* staging = reinterpret_cast<const uint16_t*>(shared);
  if constexpr (S::kRegisterQueries) {
    uint16_t* copy = reinterpret_cast<uint16_t*>(shared);
    constexpr int kPieces = kRegisterDim / 8;  // 16 bytes each
    for (int i = tid; i < kQueries * kPieces; i += kThreads) {
      const int r = i / kPieces, c = (i - r * kPieces) * 8;
      uint4 piece = make_uint4(0, 0, 0, 0);
      if (queryBase + r < p.queryCount)
        piece = *reinterpret_cast<const uint4*>(
            p.queries + static_cast<size_t>(queryBase + r) * kRegisterDim + c);
      *reinterpret_cast<uint4*>(copy + r * S::kStagingStride + c) = piece;
    }
  }

  if (tid < kQueries) {
    count[tid] = 0;
    // The floors pass starts (and stays) at each query's floor; the others with no threshold.
    threshold[tid] =
        kPass == kPassFloors && queryBase + tid < p.queryCount ? p.floors[queryBase + tid] : 0;
  }
  if (tid == kConsumerWarps * 32) {
    for (int s = 0; s < S::kStages; ++s) {
      barrierInit(&full[s], 1);  // the producer's arrival, plus the TMA bytes (both halves)
      barrierInit(&empty[s], kConsumerWarps * kCluster);  // one per consumer warp of the pair
    }
    barrierInit(staged, kConsumerWarps * kCluster);
    barrierInitFence();
  }
  // Paired: the other block's barriers are ready before anything arrives on them.
  if constexpr (kCluster > 1)
    clusterSync();
  else
    __syncthreads();

  if (warp >= kConsumerWarps) {  // the producer warpgroup
    registersDown<kProducerRegisters>();
    if (warp == kConsumerWarps && lane == 0) {
      if constexpr (S::kRegisterQueries)
        producerWait<kCluster>(staged, 0, p.fault, kWaitedStaged, 0);
      long long waited = 0;  // kProfile: cycles waiting for released stages
      for (int it = 0; it < total; ++it) {
        const int s = it % S::kStages;
        // Round r of stage s waits for the consumers' release of round r - 1 (parity of the
        // phase before, which a fresh barrier counts as complete for round 0).
        const long long before = kProfile ? clock64() : 0;
        producerWait<kCluster>(&empty[s], ((it / S::kStages) & 1) ^ 1, p.fault, kWaitedEmpty, s);
        if constexpr (kProfile) waited += clock64() - before;
        barrierArriveExpect(&full[s], S::kStageBytes);
        const int tile = it / kChunks;
        const int k0 = (it - tile * kChunks) * kChunkK;
        unsigned char* stage = stages + s * S::kStageBytes;
        if constexpr (!S::kRegisterQueries) tmaLoad(stage, &queryMap, k0, queryBase, &full[s]);
        // Paired blocks: this block's half of the rows, into both blocks.
        constexpr int kHalf = S::kRows / kCluster;
        const int half = static_cast<int>(rank) * kHalf;
        if constexpr (kCluster > 1) {
          tmaLoadMulticast(stage + S::kQueryTileBytes + rank * (S::kRowTileBytes / kCluster),
                           &rowMap, k0, tileRow(tile) + half, &full[s],
                           static_cast<uint16_t>((1u << kCluster) - 1));
        } else {
          tmaLoad(stage + S::kQueryTileBytes, &rowMap, k0, tileRow(tile), &full[s]);
        }
        // kExperimentPrefetch: the rows of the load p.prefetchAhead stages on, into L2 now.
        if constexpr (kPrefetch) {
          const int ahead = it + p.prefetchAhead;
          if (ahead < total) {
            const int later = ahead / kChunks;
            tmaPrefetchL2(&rowMap, (ahead - later * kChunks) * kChunkK, tileRow(later) + half);
          }
        }
      }
      // The consumers' releases of the last rounds: a stage they never get (a TMA that did
      // not complete) stops the kernel here rather than hanging it.
      for (int it = total; it < total + S::kStages; ++it) {
        const int s = it % S::kStages;
        if (it - S::kStages >= 0)
          producerWait<kCluster>(&empty[s], ((it / S::kStages) & 1) ^ 1, p.fault, kWaitedEmpty, s);
      }
      if constexpr (kProfile) {
        atomicAdd(&p.phases[kPhaseProducerWait], static_cast<unsigned long long>(waited));
        atomicAdd(&p.phases[kPhaseProducers], 1ull);
      }
    }
    return;  // no block-wide barrier follows
  }
  registersUp<kConsumerRegisters>();

  // RegisterQueries: warp (wg, w) takes block queries 64 wg + 16 w + [0, 16).
  constexpr int kSteps = S::kRegisterQueries ? kRegisterDim / 16 : 1;
  uint32_t a[kSteps][4];
  if constexpr (S::kRegisterQueries) {
    const uint16_t* mine =
        staging + (warp * 16 + (lane & 15)) * S::kStagingStride + (lane >> 4) * 8;
#pragma unroll
    for (int s = 0; s < kSteps; ++s) loadMatrixX4(a[s], mine + 16 * s);
    asyncProxyFence();  // the reads above come before the TMA writes that reuse the room
    if (lane == 0) release(staged);
  }

  // A consumer: warpgroup wg.
  const int wg = warp >> 2;
  Selection selection{p,
                      buffer,
                      threshold,
                      count,
                      queryBase,
                      rowEnd,
                      lane,
                      warp & 3,
                      1 + wg,  // named barrier 0 is __syncthreads'
                      wg * 64,
                      wg * 64 + (warp & 3) * 16 + (lane >> 2),
                      2 * (lane & 3)};

  float d[S::kAccumulators];  // each tile's first wgmma ignores it (scale-d 0); defined anyway
#pragma unroll
  for (int i = 0; i < S::kAccumulators; ++i) d[i] = 0.0f;
  int it = 0;
  int held = -1;  // the stage read by the wgmma group still in flight, if any
  // kProfile: this warp's cycles by phase (FusedPhase).
  long long waitCycles = 0, productCycles = 0, selectCycles = 0;
  const long long loopStart = kProfile ? clock64() : 0;
  // One stage: wait for it, issue its four k-steps, release the stage of the group before.
  const auto multiply = [&](int kc, auto&& step) {
    const int s = it % S::kStages;
    [[maybe_unused]] const long long before = kProfile ? clock64() : 0;
    consumerWait(&full[s], (it / S::kStages) & 1);
    [[maybe_unused]] const long long arrived = kProfile ? clock64() : 0;
    const unsigned char* stage = stages + s * S::kStageBytes;
    wgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kChunkK / 16; ++kk) step(stage, kk, (kc | kk) != 0 ? 1u : 0u);
    wgmmaCommit();
    if (held >= 0) {
      wgmmaWait<1>();  // the group before this one is done with its stage
      if (lane == 0) release(&empty[held]);
    }
    held = s;
    ++it;
    if constexpr (kProfile) {
      waitCycles += arrived - before;
      productCycles += clock64() - arrived;
    }
  };
  for (int tile = 0; tile < tiles; ++tile) {
    if constexpr (S::kRegisterQueries) {
#pragma unroll
      for (int kc = 0; kc < kRegisterDim / kChunkK; ++kc)
        multiply(kc, [&](const unsigned char* stage, int kk, uint32_t accumulate) {
          wgmma<kBf16>(d, a[kc * (kChunkK / 16) + kk], matrixDescriptor(stage) + 2 * kk,
                       accumulate);
        });
    } else {
      for (int kc = 0; kc < kChunks; ++kc)
        multiply(kc, [&](const unsigned char* stage, int kk, uint32_t accumulate) {
          wgmma<kBf16>(d, matrixDescriptor(stage + wg * (S::kQueryTileBytes / 2)) + 2 * kk,
                       matrixDescriptor(stage + S::kQueryTileBytes) + 2 * kk, accumulate);
        });
    }
    const long long drained = kProfile ? clock64() : 0;
    wgmmaWait<0>();
    accumulatorsWritten(d);
    if (lane == 0) release(&empty[held]);
    held = -1;
    const long long scored = kProfile ? clock64() : 0;
    if (p.scores != nullptr)
      selection.writeScores<S::kRows>(d, tileRow(tile));
    else if (!kProfile || p.select)
      selection.offer<S::kRows, kProfile, kGrouped, kPass == kPassFloors>(d, tileRow(tile));
    if constexpr (kProfile) {
      productCycles += scored - drained;
      selectCycles += clock64() - scored;
    }
  }
  const long long loopEnd = kProfile ? clock64() : 0;
  if constexpr (kPass == kPassFloors)
    selection.flushAll();
  else if (p.scores == nullptr && (!kProfile || p.select))
    selection.writePartials(chunk);
  if constexpr (kProfile) {
    if (lane == 0) {
      const auto add = [&](FusedPhase phase, long long value) {
        atomicAdd(&p.phases[phase], static_cast<unsigned long long>(value));
      };
      add(kPhaseWait, waitCycles);
      add(kPhaseProducts, productCycles);
      add(kPhaseSelect, selectCycles);
      add(kPhaseLoop, loopEnd - loopStart);
      add(kPhasePartials, clock64() - loopEnd);
      add(kPhaseRounds, selection.rounds);
      add(kPhaseSlowTiles, selection.slowTiles);
      add(kPhaseTiles, tiles);
      add(kPhaseWarps, 1);
    }
  }
}

// ---- host side ----

using ScanKernel = void (*)(CUtensorMap, CUtensorMap, ScanParams);

// The alternatives (kExperiments) are built for the single-block registers kernel only (the
// default at D = 384; the planner declines them for the others): null for the others.
template <bool kBf16, bool kProfile, int kExperiments = 0>
ScanKernel kernelFor(FusedHopper variant, int cluster) {
  if (variant == FusedHopper::RegisterQueries && cluster == 1)
    return hopperScanKernel<kBf16, FusedHopper::RegisterQueries, 1, kProfile, kExperiments>;
  if constexpr (kExperiments != 0) {
    return nullptr;
  } else {
    if (variant == FusedHopper::RegisterQueries)
      return hopperScanKernel<kBf16, FusedHopper::RegisterQueries, 2, kProfile>;
    return hopperScanKernel<kBf16, FusedHopper::SharedQueries, 1, kProfile>;
  }
}

// The search's kernels; `profile`: the diagnostics build (fusedTopKPhases), bfloat16 only, with
// one of the FusedExperiment alternatives or none.
ScanKernel kernelFor(FusedDtype dtype, FusedHopper variant, int cluster, bool profile = false,
                     int experiments = 0) {
  if (dtype != FusedDtype::BFloat16) return kernelFor<false, false>(variant, cluster);
  if (!profile) return kernelFor<true, false>(variant, cluster);
  constexpr int kDeepPrefetch = kExperimentDeepRing | kExperimentPrefetch;
  if ((experiments & kDeepPrefetch) == kDeepPrefetch)
    return kernelFor<true, true, kDeepPrefetch>(variant, cluster);
  if (experiments & kExperimentPrefetch)
    return kernelFor<true, true, kExperimentPrefetch>(variant, cluster);
  if (experiments & kExperimentDeepRing)
    return kernelFor<true, true, kExperimentDeepRing>(variant, cluster);
  if (experiments & kExperimentGroupedOffer)
    return kernelFor<true, true, kExperimentGroupedOffer>(variant, cluster);
  return kernelFor<true, true>(variant, cluster);
}

// The floor scan's passes (single blocks of the registers kernel).
ScanKernel passKernelFor(FusedDtype dtype, FusedScanSm90Pass pass) {
  constexpr FusedHopper kRegisters = FusedHopper::RegisterQueries;
  const bool bf16 = dtype == FusedDtype::BFloat16;
  if (pass == FusedScanSm90Pass::Sample)
    return bf16 ? hopperScanKernel<true, kRegisters, 1, false, 0, kPassSample>
                : hopperScanKernel<false, kRegisters, 1, false, 0, kPassSample>;
  if (pass == FusedScanSm90Pass::Repair)
    return bf16 ? hopperScanKernel<true, kRegisters, 1, false, 0, kPassRepair>
                : hopperScanKernel<false, kRegisters, 1, false, 0, kPassRepair>;
  return bf16 ? hopperScanKernel<true, kRegisters, 1, false, 0, kPassFloors>
              : hopperScanKernel<false, kRegisters, 1, false, 0, kPassFloors>;
}

// The launch of `kernel` (clusters of `cluster` blocks along x where above 1).
cudaLaunchConfig_t launchConfig(dim3 grid, size_t sharedBytes, cudaStream_t stream, int cluster,
                                cudaLaunchAttribute& attribute) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = sharedBytes;
  config.stream = stream;
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = static_cast<unsigned>(cluster);
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = cluster > 1 ? &attribute : nullptr;
  config.numAttrs = cluster > 1 ? 1 : 0;
  return config;
}

// Query blocks of the grid: paired blocks come in twos (the last may have no queries).
unsigned queryBlocks(int64_t queryCount, int cluster) {
  const int64_t blocks = (queryCount + kQueries - 1) / kQueries;
  return static_cast<unsigned>((blocks + cluster - 1) / cluster * cluster);
}

// f(the plan's Shape).
template <class F>
auto byShape(const FusedScanSm90Plan& plan, F&& f) {
  if (plan.variant != FusedHopper::RegisterQueries) return f(Shape<FusedHopper::SharedQueries>{});
  return plan.experiments & kExperimentDeepRing ? f(Shape<FusedHopper::RegisterQueries, true>{})
                                                : f(Shape<FusedHopper::RegisterQueries>{});
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

// The fault record (producerWait): pinned host memory the kernels write through a mapped
// device pointer, readable after the kernel has stopped the context. {set, block x, block y,
// barrier, stage, parity}.
int* faultRecord() {
  static int* record = [] {
    void* host = nullptr;
    if (cudaHostAlloc(&host, 6 * sizeof(int), cudaHostAllocMapped) != cudaSuccess) {
      (void)cudaGetLastError();
      return static_cast<int*>(nullptr);
    }
    std::fill_n(static_cast<int*>(host), 6, 0);
    return static_cast<int*>(host);
  }();
  return record;
}

}  // namespace

std::string fusedScanSm90Fault() {
  const int* record = faultRecord();
  if (record == nullptr || record[0] == 0) return "";
  return "the Hopper scan kernel stopped: block (" + std::to_string(record[1]) + ", " +
         std::to_string(record[2]) + ") waited 10 s on the " +
         (record[3] == kWaitedStaged ? "staged" : "empty") + " barrier of stage " +
         std::to_string(record[4]) + " (parity " + std::to_string(record[5]) + ")";
}

namespace {

// One row tile in kFloorSampleStride is the sample; the lists hold kFloorListFactor times the
// rows expected above a floor (stride x keep): on Gaussian rows at 1M and 4M the largest list
// of 128 queries held 1.3x (benchmarks/selection_model.cpp). Below kFloorMinRows rows the
// sample is too small to be worth a pass of its own.
constexpr int kFloorSampleStride = 8;
constexpr int kFloorListFactor = 4;
constexpr int kFloorMinListCapacity = 512;
constexpr int64_t kFloorMinRows = 65536;

// Fills the floor scan's part of `plan` (its search part planned); why it does not apply, or "".
std::string planFloorScan(const FusedTopKProblem& p, int sharedOptIn, int64_t resident,
                          int maxChunks, FusedScanSm90Plan& plan) {
  if (plan.variant != FusedHopper::RegisterQueries || plan.cluster != 1 || plan.experiments != 0)
    return "the floor scan runs on sm90-registers (D = " + std::to_string(kRegisterDim) +
           ", single blocks) only";
  if (p.rowCount < kFloorMinRows)
    return "the floor scan needs at least " + std::to_string(kFloorMinRows) + " rows";
  using Floors = Shape<FusedHopper::RegisterQueries, false, true>;
  plan.floorSharedBytes = Floors::sharedBytes(kFloorCapacity);
  if (plan.floorSharedBytes > static_cast<size_t>(sharedOptIn))
    return "the floors pass needs " + std::to_string(plan.floorSharedBytes) +
           " bytes of shared memory per block; this device has " + std::to_string(sharedOptIn);
  plan.sampleStride = kFloorSampleStride;
  const int64_t tiles = (p.rowCount + Floors::kRows - 1) / Floors::kRows;
  const int64_t sampled = (tiles + plan.sampleStride - 1) / plan.sampleStride;
  const RowChunks split =
      splitRows(static_cast<int64_t>(queryBlocks(p.queryCount, 1)) * kQueries,
                sampled * Floors::kRows, kQueries, Floors::kRows, resident, maxChunks);
  plan.sampleChunks = split.chunks;
  plan.sampleChunkRows = split.chunkRows;
  plan.listCapacity = static_cast<int>(std::min<int64_t>(
      kFusedTopKMaxListCapacity,
      std::max<int64_t>(kFloorMinListCapacity,
                        (int64_t{kFloorListFactor} * plan.sampleStride * p.keep + 31) / 32 * 32)));
  for (const FusedScanSm90Pass pass :
       {FusedScanSm90Pass::Sample, FusedScanSm90Pass::Floors, FusedScanSm90Pass::Repair})
    ELEANOR_CHECK_CUDA(cudaFuncSetAttribute(
        passKernelFor(p.dtype, pass), cudaFuncAttributeMaxDynamicSharedMemorySize,
        static_cast<int>(pass == FusedScanSm90Pass::Floors ? plan.floorSharedBytes
                                                           : plan.sharedBytes)));
  return "";
}

}  // namespace

std::string planFusedScanSm90(const FusedTopKProblem& p, const FusedDevice& device, int maxChunks,
                              FusedScanSm90Plan& plan, const FusedScanVariant& asked) {
  const int sms = device.sms, sharedOptIn = device.sharedOptIn;
  if (device.major != 9 || device.minor != 0)
    return "the Hopper kernels need compute capability 9.0";
  if (p.keep > kFusedTopKHopperMaxKeep)
    return "the Hopper kernels keep at most " + std::to_string(kFusedTopKHopperMaxKeep);
  if (p.rowCount > INT_MAX - 2 * 256) return "row count out of range";
  if (p.hopper == FusedHopper::RegisterQueries && p.dim != kRegisterDim)
    return "the Hopper kernel with queries in registers is for D = " + std::to_string(kRegisterDim);
  if (encodeTiled() == nullptr) return "the driver has no cuTensorMapEncodeTiled";
  plan.variant = p.hopper == FusedHopper::SharedQueries || p.dim != kRegisterDim
                     ? FusedHopper::SharedQueries
                     : FusedHopper::RegisterQueries;
  // Paired blocks where asked for and the rows are the only loads; else one block.
  plan.cluster = p.hopperCluster == 2 && plan.variant == FusedHopper::RegisterQueries ? 2 : 1;
  plan.kernelName = plan.variant == FusedHopper::SharedQueries ? "sm90-smem"
                    : plan.cluster == 2                        ? "sm90-registers-x2"
                                                               : "sm90-registers";
  // The profiled build's alternatives (fusedTopKPhases): none for the search.
  plan.experiments = (asked.groupedOffer ? kExperimentGroupedOffer : 0) |
                     (asked.deepRing ? kExperimentDeepRing : 0) |
                     (asked.prefetchAhead > 0 ? kExperimentPrefetch : 0);
  if (asked.groupedOffer && plan.experiments != kExperimentGroupedOffer)
    return "the grouped offer is built alone, not with the deep ring or prefetches";
  if (asked.prefetchAhead < 0) return "prefetchAhead is negative";
  if (plan.experiments != 0 && (plan.variant != FusedHopper::RegisterQueries || plan.cluster != 1))
    return "the grouped offer, the deep ring and the prefetches are built for sm90-registers "
           "(queries in registers, D = 384, single blocks) only";

  // Room for 64 more candidates per query than kept (fewer cuts); 32 where memory is short.
  const auto shared = [&](int capacity) {
    return byShape(plan, [&](auto shape) { return shape.sharedBytes(capacity); });
  };
  const int keepPadded = (p.keep + 31) / 32 * 32;
  plan.capacity = keepPadded + 64;
  if (plan.capacity > kMaxCapacity || shared(plan.capacity) > static_cast<size_t>(sharedOptIn))
    plan.capacity = keepPadded + 32;
  if (asked.capacity != 0) {  // asked for (the profiled build's experiments)
    if (asked.capacity % 32 != 0 || asked.capacity <= p.keep)
      return "capacity " + std::to_string(asked.capacity) + " is not a multiple of 32 above keep";
    plan.capacity = asked.capacity;
  }
  plan.sharedBytes = shared(plan.capacity);
  if (plan.capacity > kMaxCapacity || plan.sharedBytes > static_cast<size_t>(sharedOptIn))
    return "keep " + std::to_string(p.keep) + " needs " + std::to_string(plan.sharedBytes) +
           " bytes of shared memory per block; this device has " + std::to_string(sharedOptIn);

  const ScanKernel kernel =
      kernelFor(p.dtype, plan.variant, plan.cluster, plan.experiments != 0, plan.experiments);
  ELEANOR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(plan.sharedBytes)));
  int64_t resident = 0;  // blocks the device runs at once
  if (plan.cluster == 1) {
    int blocksPerSm = 0;
    ELEANOR_CHECK_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocksPerSm, kernel, kThreads,
                                                                     plan.sharedBytes));
    resident = static_cast<int64_t>(sms) * blocksPerSm;
  } else {  // pairs need two SMs of one GPC: fewer may run at once than SMs / 2
    cudaLaunchAttribute attribute;
    const cudaLaunchConfig_t config =
        launchConfig(dim3(queryBlocks(p.queryCount, plan.cluster)), plan.sharedBytes,
                     static_cast<cudaStream_t>(p.stream), plan.cluster, attribute);
    int clusters = 0;
    ELEANOR_CHECK_CUDA(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config));
    resident = static_cast<int64_t>(clusters) * plan.cluster;
  }
  if (resident < 1) return "the Hopper scan kernel does not fit on this device";

  const int tileRows = byShape(plan, [](auto shape) { return shape.kRows; });
  // Chunks per query block so that the grid (paired blocks: padded to pairs) fills one wave.
  const int64_t gridQueries =
      static_cast<int64_t>(queryBlocks(p.queryCount, plan.cluster)) * kQueries;
  const RowChunks split =
      splitRows(gridQueries, p.rowCount, kQueries, tileRows, resident, maxChunks);
  plan.chunks = split.chunks;
  plan.chunkRows = split.chunkRows;
  if (p.floorScan) plan.floorWhyNot = planFloorScan(p, sharedOptIn, resident, maxChunks, plan);
  plan.floorScan = p.floorScan && plan.floorWhyNot.empty();
  if (plan.floorScan) plan.kernelName = "sm90-registers-floors";
  return "";
}

void launchFusedScanSm90(const FusedTopKProblem& problem, const FusedScanSm90Plan& plan,
                         FusedScanParams params, FusedScanSm90Pass pass) {
  if (pass != FusedScanSm90Pass::Search) {
    if (!plan.floorScan || params.phases != nullptr || params.scores != nullptr)
      throw InternalError("the floor scan's passes run where the plan has them, for the search");
    if (pass == FusedScanSm90Pass::Floors &&
        (params.floors == nullptr || params.lists == nullptr || params.listCounts == nullptr))
      throw InternalError("the floors pass needs its floors, lists and counts");
    if (pass == FusedScanSm90Pass::Repair &&
        (params.listCounts == nullptr || params.partials == nullptr))
      throw InternalError("the repair needs the floors pass's counts and partial lists");
  }
  const int tileRows = byShape(plan, [](auto shape) { return shape.kRows; });
  const CUtensorMap queryMap =
      tensorMap(problem.dtype, problem.queries, problem.queryCount, problem.dim, kQueries);
  const CUtensorMap rowMap = tensorMap(problem.dtype, problem.rows, problem.rowCount, problem.dim,
                                       tileRows / plan.cluster);
  params.capacity = plan.capacity;
  params.chunkRows = plan.chunkRows;
  params.chunks = plan.chunks;
  params.tileStride = 1;
  size_t sharedBytes = plan.sharedBytes;
  if (pass == FusedScanSm90Pass::Sample) {
    params.chunkRows = plan.sampleChunkRows;
    params.chunks = plan.sampleChunks;
    params.tileStride = plan.sampleStride;
  } else if (pass == FusedScanSm90Pass::Floors) {
    params.capacity = kFloorCapacity;
    params.listCapacity = plan.listCapacity;
    sharedBytes = plan.floorSharedBytes;
  } else if (pass == FusedScanSm90Pass::Repair) {
    params.listCapacity = plan.listCapacity;
  }
  params.fault = nullptr;
  if (int* record = faultRecord(); record != nullptr) {
    record[0] = 0;  // a fault of an earlier launch is that launch's to report
    ELEANOR_CHECK_CUDA(
        cudaHostGetDevicePointer(reinterpret_cast<void**>(&params.fault), record, 0));
  }
  const dim3 grid(queryBlocks(problem.queryCount, plan.cluster),
                  static_cast<unsigned>(params.chunks));
  cudaLaunchAttribute attribute;
  const cudaLaunchConfig_t config = launchConfig(
      grid, sharedBytes, static_cast<cudaStream_t>(problem.stream), plan.cluster, attribute);
  // params.phases: the profiled build (the planner set the search kernel's shared memory, or
  // an alternative's); the alternatives exist in that build only.
  const bool profile = params.phases != nullptr;
  if (profile && problem.dtype != FusedDtype::BFloat16)
    throw InternalError("the profiled Hopper scan is built for bfloat16 only");
  if (!profile && plan.experiments != 0)
    throw InternalError("the Hopper scan's alternatives run in the profiled build only");
  const ScanKernel kernel =
      pass != FusedScanSm90Pass::Search
          ? passKernelFor(problem.dtype, pass)
          : kernelFor(problem.dtype, plan.variant, plan.cluster, profile, plan.experiments);
  if (profile)
    ELEANOR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(plan.sharedBytes)));
  ELEANOR_CHECK_CUDA(cudaLaunchKernelEx(&config, kernel, queryMap, rowMap, params));
}

}  // namespace eleanor
