// Fused similarity + top-k on a GPU (CUDA, worker/retrieval/cuda/fused_topk.cu): for each of
// Q queries, the best `keep` of N shard rows by dot product, without writing the Q×N score
// matrix anywhere. Tensor-core tiles (bf16 or fp16 inputs, fp32 accumulation) feed a running
// top-`keep` per query in shared memory; each block of rows leaves a short partial list, and a
// second kernel merges the partials into the window.
//
// The answer is a window for exact_topk.h: approximate scores, within the same error bound as
// the matrix-product path (see fused_topk.cu), and complete: every row left out scores no
// higher than the window's last entry. Ranking is by (score desc, row asc), so the window's
// content and order are deterministic.
//
// Plain C++: raw device pointers and sizes, no CUDA or LibTorch types. Without CUDA the build
// uses fused_topk_stub.cpp: fusedTopKAvailable() is false and nothing else may be called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eleanor {

enum class FusedDtype { BFloat16, Float16 };

// The Hopper scan kernels: queries streamed through shared memory with the rows (any dim), or
// held in registers (D = 384: no query traffic). Auto: registers where the dim allows.
enum class FusedHopper { Off, Auto, SharedQueries, RegisterQueries };

// The largest window the kernel keeps per query (its shared-memory fast path).
constexpr int kFusedTopKMaxKeep = 256;

// The windows the fused path can keep for top-k, widest first: 2k + 32 and k + 32, rounded up
// to multiples of 32, those within the kernel's fast path (kFusedTopKMaxKeep: 2k + 32 for
// k <= 112, k + 32 for k <= 224); empty above that (the matrix path). Any window of at least k
// rows keeps exact_topk exact; a wider one only makes rescans rarer. The narrow one serves
// where the wide one does not fit the device's shared memory (an A100 holds keep <= 192).
// Defined in fused_gpu_window.cpp, in every build.
std::vector<int64_t> fusedWindowKeeps(int k);

// The widest of fusedWindowKeeps(k), or 0.
int64_t fusedWindowKeep(int k);

struct FusedTopKProblem {
  FusedDtype dtype = FusedDtype::BFloat16;
  const void* queries = nullptr;  // device, queryCount × dim, row-major, dense
  const void* rows = nullptr;     // device, rowCount × dim, row-major, dense
  int64_t queryCount = 0;
  int64_t rowCount = 0;
  int64_t dim = 0;
  int keep = 0;            // 1 ..= min(kFusedTopKMaxKeep, rowCount)
  int device = 0;          // the CUDA device that holds the pointers (and is current when called)
  void* stream = nullptr;  // cudaStream_t; nullptr: the legacy default stream
  // D = 384 and 768 have scan kernels compiled for their dim (k-loop unrolled per tile); true
  // takes them for those dims. Off here; the index's windows set it (fused_gpu_window.cpp: on
  // by default, ELEANOR_FUSED_FIXED_DIM=0 turns it off).
  bool fixedDimKernel = false;
  // On compute capability 9.0 (H100/H200), the scan kernels on Hopper's warpgroup MMA and
  // tensor memory access (fused_topk_sm90.cu) for windows of up to kFusedTopKHopperMaxKeep;
  // elsewhere the portable kernel. Off here; the index's windows set it (fused_gpu_window.cpp:
  // on by default, ELEANOR_FUSED_SM90=0 turns it off).
  FusedHopper hopper = FusedHopper::Off;
  // 2: the queries-in-registers kernel as pairs of blocks on two SMs that share each row load
  // (TMA multicast), halving the rows read from L2 ("sm90-registers-x2"). Opt-in
  // (ELEANOR_FUSED_SM90_CLUSTER=2, fused_gpu_window.cpp) until it has run on a GPU.
  int hopperCluster = 1;
  // int8 rows with a float32 scale each (an int8 shard): `rows` holds rowCount x dim int8
  // (8-byte aligned), `rowScales` rowCount floats (device); the queries are float16 (dtype
  // Float16). A row's score is its int8 values' dot product with the query (the bytes widened
  // to float16 exactly, fp32 sums) times its scale, in float32. The portable kernel serves it
  // ("fixed-dim-int8" at D = 384, "generic-int8"); the Hopper ones do not.
  bool int8Rows = false;
  const float* rowScales = nullptr;
  // The floor scan, where the Hopper registers kernel serves (sm90-registers-floors): a first
  // pass over one row tile in eight gives each query a floor (the key of its keep-th best
  // sampled row), a second keeps every row above it, with no per-chunk selection (every row
  // above the floor goes to the query's list; at least `keep` do). The same windows as the
  // search kernel's, key for key; a query whose list overflows gets a window of +inf scores,
  // which the index's bound cannot prove complete (it scans the query again). Opt-in
  // (ELEANOR_FUSED_FLOORS=1, fused_gpu_window.cpp) until it has run on a GPU.
  bool floorScan = false;
};

// The widest window the Hopper scan kernel keeps (its candidate buffers fill shared memory).
constexpr int kFusedTopKHopperMaxKeep = 64;

// True when this build has the CUDA kernel.
bool fusedTopKAvailable();

// Empty when the kernel handles `problem`, else why not (dim not a multiple of 8, a pointer
// not 16-byte aligned, keep out of range, not enough shared memory on this device, ...): the
// caller then takes the matrix-product path.
std::string fusedTopKUnsupported(const FusedTopKProblem& problem);

// Which scan kernel fusedTopK runs for `problem`: "sm90-registers", "sm90-registers-x2"
// (hopperCluster 2), "sm90-registers-floors" (floorScan) or "sm90-smem" (hopper, on a 9.0
// device), "fixed-dim" (fixedDimKernel,
// D = 384 or 768), "generic", "fixed-dim-int8" / "generic-int8" (int8Rows), or "" where it is
// unsupported.
std::string fusedTopKKernelName(const FusedTopKProblem& problem);

// Empty when a Hopper kernel takes `problem` (problem.hopper set), else why not: not a 9.0
// device, keep above kFusedTopKHopperMaxKeep, registers asked for at a dim other than 384, ...
std::string fusedTopKHopperUnsupported(const FusedTopKProblem& problem);

// Empty when fusedTopK runs `problem` as a floor scan (problem.floorScan set), else why not:
// another kernel serves it, fewer than 65536 rows, shared memory.
std::string fusedTopKFloorScanUnsupported(const FusedTopKProblem& problem);

// Device scratch bytes fusedTopK needs for `problem` (the per-block partial lists); 0 where it
// does not take the problem (fusedTopKUnsupported says why).
size_t fusedTopKWorkspaceBytes(const FusedTopKProblem& problem);

// Writes, for each query i, its best `keep` rows: scores[i * keep + j] (float32, descending)
// and rowsOut[i * keep + j] (int64: rowOffset + row index into problem.rows), ties by row
// ascending. All device pointers; `workspace` holds at least fusedTopKWorkspaceBytes bytes.
// Asynchronous on problem.stream. Returns the scan kernel it launched (fusedTopKKernelName's
// answer). Throws InternalError for an unsupported problem or a failed launch.
const char* fusedTopK(const FusedTopKProblem& problem, int64_t rowOffset, float* scores,
                      int64_t* rowsOut, void* workspace, size_t workspaceBytes);

// Diagnostics for the Hopper kernels (problem.hopper on a 9.0 device): every score of
// `problem` from its matrix products, without the selection, into `scores` (device,
// queryCount x rowCount float32, row-major), asynchronously on problem.stream. Empty when
// written, else why not (the problem is not the Hopper kernel's).
std::string fusedTopKScores(const FusedTopKProblem& problem, float* scores);

// Diagnostics for the Hopper kernels: where a scan's time goes. What a profiled build of the
// scan kernel (bfloat16 only; the default build is not touched) measured on one synchronous
// run of `problem`, per consumer warp and row tile in cycles of the SM's clock, and the run's
// time from CUDA events (the scan alone, no merge).
struct FusedScanPhases {
  std::string kernel;             // fusedTopKKernelName's answer
  int blocks = 0;                 // of the grid
  double tiles = 0;               // row tiles per consumer warp
  double waitCycles = 0;          // per tile: waiting for a stage's rows to arrive
  double productCycles = 0;       // per tile: issuing the products and waiting for them
  double selectCycles = 0;        // per tile: offering its scores to the buffers, cuts included
  double loopCycles = 0;          // per tile: all of the tile loop (the three above and the rest)
  double partialCycles = 0;       // per warp: writing the partial lists after the loop
  double cutRounds = 0;           // per warp: offer rounds that overflowed a buffer and cut it
  double slowTiles = 0;           // of the tiles, the fraction where some lane looked at each score
  double producerWaitCycles = 0;  // per block: the loads waiting for a stage to be released
  double milliseconds = 0;        // the scan, from CUDA events
  double megahertz = 0;           // cycles of the loop per microsecond of the scan: the SM clock
};

// What the profiled scan runs: the search kernel's scan, or an alternative to measure (and,
// through `scores` and `rowsOut`, to hold to the search kernel's windows).
struct FusedScanVariant {
  bool select = true;         // false: the products and the pipeline alone (no partial lists)
  bool groupedOffer = false;  // the quick rejection per group of 8 of a thread's scores
  bool deepRing = false;      // 8 stages of rows in flight, not 6 (queries in registers only)
  int prefetchAhead = 0;      // > 0: each load also hints the rows this many stages on into L2
                              // (groupedOffer is built alone; deepRing and this together; the
                              // three for sm90-registers only)
  int capacity = 0;  // candidate buffer entries per query (a multiple of 32 above keep); 0: the
                     // planner's (keep + 64 where shared memory holds it, else keep + 32)
};

// Runs the profiled scan of `problem` (as fusedTopK would for it: problem.hopper on a 9.0
// device, keep <= kFusedTopKHopperMaxKeep, bfloat16) once and waits for it. With `scores` and
// `rowsOut` (device, as fusedTopK's, row offset 0) and variant.select, the partial lists are
// then merged into them (after the timed scan). Empty when `out` is filled, else why not.
// Allocates its own scratch; not for the search path.
std::string fusedTopKPhases(const FusedTopKProblem& problem, const FusedScanVariant& variant,
                            FusedScanPhases& out, float* scores = nullptr,
                            int64_t* rowsOut = nullptr);

// After a failed launch or synchronisation: what a Hopper kernel that stopped itself (a wait
// of more than 10 s on one of its barriers) was waiting for, or "".
std::string fusedTopKHopperFault();

}  // namespace eleanor
