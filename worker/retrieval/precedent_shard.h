// PrecedentShard: this rank's contiguous rows of a precedent corpus folder
//   embeddings.npy  N × D float32/float16 (row i = precedent i), memory-mapped, only our rows read
//   meta.jsonl      line i = {"id", "decision", "severity": {critic: 0..3}, "text"?}
//   index.json      optional: what built it (embedder signature), checked against the job's
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/file_versions.h"
#include "common/host_memory.h"
#include "common/matrix.h"
#include "common/partition.h"

namespace eleanor {

struct PrecedentMeta {
  std::string id;
  std::string decision;          // allow | constrained_allow | escalate | deny
  std::vector<double> severity;  // per job critic, in the job's critic order; -1 = not given
};

struct PrecedentShard {
  int64_t totalRows = 0;  // N, the whole corpus
  int64_t dim = 0;
  Range rows;                       // this rank's global rows
  Matrix embeddings;                // rows.size() × dim, float32 as stored (not yet normalised)
  std::vector<PrecedentMeta> meta;  // rows.size() entries
  std::vector<StampedFile> files;   // embeddings.npy and meta.jsonl as this rank opened them
};

// Loads rows evenSplit(N, size, rank). Throws UserError naming the file (and line, key or
// dimension) for: a missing folder or file, a bad .npy, a dimension other than `expectedDim`,
// meta.jsonl with fewer or more lines than the matrix has rows, a bad meta line, an index.json
// whose embedder differs from `embedderSignature`, a shard larger than this rank's part of
// `memory` (shared by the host's `localRanks`; measured before any rank loaded; unknown: not
// checked), before it is read.
PrecedentShard loadPrecedentShard(const std::string& folder, int rank, int size,
                                  int64_t expectedDim, const std::string& embedderSignature,
                                  const std::vector<std::string>& criticNames,
                                  const HostMemory& memory = {}, int localRanks = 1);

// The fixed list of decision names, in increasing severity.
const std::vector<std::string>& decisionNames();

}  // namespace eleanor
