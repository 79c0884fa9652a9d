// The Hopper scan kernel (fused_topk_sm90.cu, compiled for sm_90a only) as fused_topk.cu
// calls it: it writes the same per-chunk partial lists as the portable scan kernel, which the
// shared merge kernel then reduces. Plain C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "worker/retrieval/cuda/fused_topk_plan.h"
#include "worker/retrieval/fused_topk.h"

namespace eleanor {

struct FusedScanSm90Plan {
  FusedHopper variant = FusedHopper::SharedQueries;  // SharedQueries or RegisterQueries
  const char* kernelName = "";  // "sm90-smem", "sm90-registers", "sm90-registers-x2"
  int cluster = 1;              // blocks per cluster: 2 for paired RegisterQueries blocks
  int capacity = 0;             // candidate buffer entries per query
  int chunks = 0;               // row chunks per query block (partial lists per query)
  int chunkRows = 0;            // rows per chunk, a multiple of the kernel's row tile
  size_t sharedBytes = 0;
  int experiments = 0;  // FusedExperiment bits: an alternative of the profiled build, or 0
  // The floor scan (FusedTopKProblem::floorScan, where it applies: sm90-registers, single
  // blocks, 65536 rows and more, its floors pass's shared memory):
  // a sample pass, the search kernel over every sampleStride-th row tile in sampleChunks chunks
  // of sampleChunkRows sampled rows, whose merge gives each query the key of its keep-th best
  // sampled row as its floor; then a floors pass over the chunks above that appends every row
  // above the floor to the query's list (listCapacity keys), merged into the window.
  bool floorScan = false;
  int sampleStride = 0;
  int sampleChunks = 0;
  int sampleChunkRows = 0;
  int listCapacity = 0;
  size_t floorSharedBytes = 0;
  std::string floorWhyNot;  // problem.floorScan asked for, not planned: why
};

// Which kernel launchFusedScanSm90 runs: the search's scan, or a pass of the floor scan (its
// repair: the search's scan for the query blocks whose floors-pass list overflowed).
enum class FusedScanSm90Pass { Search, Sample, Floors, Repair };

// Fills `plan` for `problem` (problem.hopper not Off) on `device`, at most `maxChunks`
// chunks; returns why no Hopper kernel handles it ("" when one does): not a 9.0 device, keep
// above kFusedTopKHopperMaxKeep, register queries asked for at a dim other than 384, shared
// memory, no driver entry point for tensor maps. `asked`: an alternative of the profiled
// build (fusedTopKPhases: its capacity, grouped offer or deep ring; select is not the plan's),
// the default for the search.
std::string planFusedScanSm90(const FusedTopKProblem& problem, const FusedDevice& device,
                              int maxChunks, FusedScanSm90Plan& plan,
                              const FusedScanVariant& asked = {});

// Launches the scan on problem.stream: params.partials[(query * chunks + chunk) * keep + j],
// the best `keep` keys of each chunk (fused_topk_device.cuh), 0 for empty slots. `params` as
// for the portable kernel; its capacity and chunks are taken from `plan`.
// Sample: the partial lists of the sampled tiles (chunks: plan.sampleChunks). Floors:
// params.floors, lists and listCounts set (the lists zeroed), appended to; no partial lists.
// Repair: params.listCounts set; the search's partial lists of the blocks with a query whose
// count is above plan.listCapacity, the other blocks return at once.
void launchFusedScanSm90(const FusedTopKProblem& problem, const FusedScanSm90Plan& plan,
                         FusedScanParams params,
                         FusedScanSm90Pass pass = FusedScanSm90Pass::Search);

// What the last Hopper scan that stopped itself was waiting for, or "" (fusedTopKHopperFault).
std::string fusedScanSm90Fault();

}  // namespace eleanor
