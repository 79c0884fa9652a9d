// Chrome-trace JSON (the Trace Event Format: opens in Perfetto and chrome://tracing) of every
// stage span of every rank: one process per rank, named "rank r (host, device)".
#pragma once

#include <string>
#include <vector>

#include "common/communicator.h"
#include "worker/stage_clock.h"

namespace eleanor {

// Collective: every rank must call. Rank 0 writes the trace into `folder` (created if needed)
// as eleanor-trace-<UTC time>.json and returns its path ("" on other ranks). A trace that
// cannot be written is a warning, not a failed job: the results are already in place.
std::string writeChromeTrace(Communicator& comm, const std::vector<StageClock::Span>& spans,
                             const std::string& rankLabel, const std::string& folder);

}  // namespace eleanor
