// What the two scan kernels (fused_topk.cu for sm_80 and later, fused_topk_sm90.cu for sm_90a)
// share on the host: their launch parameters and the split of the rows into chunks. Plain C++.
#pragma once

#include <algorithm>
#include <cstdint>

namespace eleanor {

struct FusedScanParams {
  const uint16_t* queries;  // the portable kernel's inputs (the Hopper one reads tensor maps)
  const uint16_t* rows;
  const int8_t* rows8;  // int8 rows (FusedTopKProblem::int8Rows) in place of `rows`, and
  const float* scales;  // their float32 scales
  int queryCount;
  int rowCount;
  int dim;
  int keep;
  int capacity;   // candidate buffer entries per query: a multiple of 32, > keep
  int chunkRows;  // rows per block, a multiple of the kernel's row tile
  int chunks;
  uint64_t* partials;  // queryCount x chunks x keep keys
  // Diagnostics (the Hopper kernel, fusedTopKScores): when set, every score, queryCount x
  // rowCount row-major, instead of the selection and the partials.
  float* scores = nullptr;
  // The Hopper kernels' fault record (host-mapped), where a stuck wait says what it waited for.
  int* fault = nullptr;
  // Diagnostics (fusedTopKPhases: the Hopper kernels' profiled build only): clock64 sums by
  // FusedPhase, and whether to select at all (false: the products and the pipeline alone, no
  // partials written).
  unsigned long long* phases = nullptr;
  bool select = true;
  int prefetchAhead = 0;  // kExperimentPrefetch: stages between a row prefetch and its load
  // The floor scan (FusedTopKProblem::floorScan), two passes of the Hopper registers kernel.
  // Sample pass: the chunks cover every tileStride-th row tile of the shard, not all of them.
  int tileStride = 1;
  // Floors pass: each query keeps every row whose key is above floors[query] (no cuts: the
  // thresholds stay there), appending its buffer to lists[query * listCapacity ...] whenever
  // it fills and at the end; listCounts[query] counts every key appended, also those past
  // listCapacity, which are dropped (the repair pass then rescans that query's block).
  const uint64_t* floors = nullptr;
  uint64_t* lists = nullptr;
  unsigned* listCounts = nullptr;
  int listCapacity = 0;
};

// Alternatives the profiled Hopper scan can run (FusedScanSm90Plan::experiments, from
// FusedScanVariant), measured by the benchmark's phases rows and held to the search kernel's
// windows by the GPU tests before one becomes the search's.
enum FusedExperiment : int {
  kExperimentGroupedOffer = 1,  // the quick rejection per group of 8 scores (Selection::offer)
  kExperimentDeepRing = 2,      // 8 stages of rows, not 6 (the registers kernel's Shape)
  kExperimentPrefetch = 4,      // rows hinted into L2 ahead of their loads (the producer)
};

// The profiled Hopper scan's sums (FusedScanParams::phases), over every consumer warp (cycles
// of its SM's clock) and every producer thread.
enum FusedPhase : int {
  kPhaseWait,          // consumer: waiting for a stage's rows (its full barrier)
  kPhaseProducts,      // consumer: issuing its products and waiting for them (wgmma)
  kPhaseSelect,        // consumer: offering a tile's scores to the buffers, cuts included
  kPhaseLoop,          // consumer: the whole tile loop
  kPhasePartials,      // consumer: writing its queries' partial lists
  kPhaseRounds,        // consumer: offer rounds that overflowed a buffer (each ends in a cut)
  kPhaseSlowTiles,     // consumer: tiles where a lane's best score passed its threshold
  kPhaseTiles,         // consumer: tiles
  kPhaseWarps,         // consumer warps
  kPhaseProducerWait,  // producer: waiting for the consumers to release a stage
  kPhaseProducers,     // producer threads (one per block)
  kPhaseCount
};

// The most keys the merge kernel takes per query (its shared memory): chunks x keep of the
// scan's partial lists, or a floor scan's list.
constexpr int kFusedTopKMaxListCapacity = 8192;

// What the planners ask of the device.
struct FusedDevice {
  int major = 0, minor = 0, sms = 0, sharedOptIn = 0;
};

// Defined in fused_topk.cu.
FusedDevice fusedDevice(int device);

struct RowChunks {
  int chunks = 0;
  int chunkRows = 0;
};

// One full wave: as many row chunks per query block as fill every SM's resident blocks
// (rounded down, so no second wave of a few blocks), at most maxChunks (what the merge holds),
// each a whole number of tiles of tileRows.
inline RowChunks splitRows(int64_t queryCount, int64_t rowCount, int blockQueries, int tileRows,
                           int64_t residentBlocks, int64_t maxChunks) {
  const int64_t queryBlocks = (queryCount + blockQueries - 1) / blockQueries;
  int64_t chunks = std::max<int64_t>(1, residentBlocks / queryBlocks);
  chunks = std::min<int64_t>(chunks, maxChunks);
  chunks = std::min<int64_t>(chunks, (rowCount + tileRows - 1) / tileRows);
  const int64_t perChunk = (rowCount + chunks - 1) / chunks;
  RowChunks split;
  split.chunkRows = static_cast<int>((perChunk + tileRows - 1) / tileRows * tileRows);
  split.chunks = static_cast<int>((rowCount + split.chunkRows - 1) / split.chunkRows);
  return split;
}

}  // namespace eleanor
