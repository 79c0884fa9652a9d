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
};

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
void launchFusedScanSm90(const FusedTopKProblem& problem, const FusedScanSm90Plan& plan,
                         FusedScanParams params);

// What the last Hopper scan that stopped itself was waiting for, or "" (fusedTopKHopperFault).
std::string fusedScanSm90Fault();

}  // namespace eleanor
