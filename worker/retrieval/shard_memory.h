// Whether a rank's shard of the precedent corpus fits the host memory it may take, checked
// before the shard is read: a shard too large for a node (or for the job's cgroup, e.g. Slurm's
// --mem) would otherwise be read until the kernel kills the rank, and the job would only learn
// that a rank died. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/host_memory.h"

namespace eleanor {

// Host memory `rows` precedents take once loaded: their float32 rows of `dim` and each one's
// metadata (id, decision, one severity per critic).
int64_t shardHostBytes(int64_t rows, int64_t dim, size_t critics);

struct ShardPlacement {
  int64_t rows = 0;       // this rank's rows
  int64_t totalRows = 0;  // the corpus's
  int64_t dim = 0;
  size_t critics = 0;
  int worldSize = 1;
  int localRanks = 1;  // the ranks on this host, which share `memory`
};

// The largest shard of a corpus of `totalRows` x `dim` split over `worldSize` ranks as the job
// splits it (the first rank's), on a host of `localRanks` ranks: what doctor checks a host's
// memory against before a job.
ShardPlacement largestShard(int64_t totalRows, int64_t dim, size_t critics, int worldSize,
                            int localRanks);

// Why the shard cannot be loaded here (what it takes, what this rank may take and why, what to
// do), naming `npyPath`; nullopt when it fits or the memory is unknown. Each of the host's ranks
// may take an equal part of memory.availableBytes, measured before any of them loaded.
std::optional<std::string> shardMemoryProblem(const std::string& npyPath,
                                              const ShardPlacement& shard,
                                              const HostMemory& memory);

}  // namespace eleanor
