#include "worker/retrieval/shard_memory.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/partition.h"
#include "worker/retrieval/precedent_shard.h"

namespace eleanor {

int64_t shardHostBytes(int64_t rows, int64_t dim, size_t critics) {
  // Per row: the float32 embedding, the PrecedentMeta, its severities, and the heap blocks of an
  // id or decision too long for the strings' own buffer (a rough 32 bytes).
  const int64_t perRow = dim * static_cast<int64_t>(sizeof(float)) +
                         static_cast<int64_t>(sizeof(PrecedentMeta)) +
                         static_cast<int64_t>(critics * sizeof(double)) + 32;
  return rows * perRow;
}

ShardPlacement largestShard(int64_t totalRows, int64_t dim, size_t critics, int worldSize,
                            int localRanks) {
  return {
      evenSplit(totalRows, worldSize, 0).size(), totalRows, dim, critics, worldSize, localRanks};
}

std::optional<std::string> shardMemoryProblem(const std::string& npyPath,
                                              const ShardPlacement& shard,
                                              const HostMemory& memory) {
  if (memory.availableBytes < 0) return std::nullopt;
  const int localRanks = std::max(1, shard.localRanks);
  const int64_t need = shardHostBytes(shard.rows, shard.dim, shard.critics);
  const int64_t mine = memory.availableBytes / localRanks;
  if (need <= mine) return std::nullopt;
  const std::string advice =
      shard.worldSize > 1
          ? fmt::format(
                "Each of the {} ranks holds 1/{} of the corpus: run on more nodes, fewer "
                "ranks per node, or ask for more memory (sbatch --mem)",
                shard.worldSize, shard.worldSize)
          : std::string(
                "One rank holds the whole corpus: run more ranks on more nodes (each "
                "holds its part), or ask for more memory (sbatch --mem)");
  const std::string override =
      " (where the memory is there after all, e.g. in swap, job.check_memory: false loads it)";
  return fmt::format(
      "this rank's shard of '{}' ({} of {} precedents x {} dims) takes {} of host memory once "
      "loaded, but this rank may take {}: {} leaves {} to the {} rank(s) on this host. {}{}",
      npyPath, shard.rows, shard.totalRows, shard.dim, byteSizeText(need), byteSizeText(mine),
      memory.source, byteSizeText(memory.availableBytes), localRanks, advice, override);
}

}  // namespace eleanor
