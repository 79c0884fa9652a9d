// Where a round's cases are decided: each rank decides its own. After the search every rank
// holds its shard's top-k lists for every case of the round (the queries are all-gathered);
// these collectives hand each rank the lists of its own cases from every shard, merged, and
// the metadata of the precedents they name, asked of the ranks whose shards hold them. Per
// round a rank receives W x k candidates and at most k metadata rows per case of its own, and
// no rank receives the lists of cases it does not decide.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/agreement.h"
#include "common/communicator.h"
#include "worker/retrieval/candidate.h"
#include "worker/retrieval/precedent_shard.h"
#include "worker/retrieval/precedent_table.h"

namespace eleanor {

// Collective. `lists`: this shard's top-k lists (k each, best first, empty slots last) of every
// case of the round, the ranks' cases in rank order, casesPerRank[r] of rank r. Returns the
// global top-k (mergeTopK of every shard's list) of each of this rank's casesPerRank[rank]
// cases. A block of the wrong size from a peer is kept in `failure` (nothing returned).
std::vector<std::vector<Candidate>> exchangeTopK(Communicator& comm,
                                                 std::span<const Candidate> lists,
                                                 std::span<const size_t> casesPerRank, int k,
                                                 DeferredFailure& failure);

// Collective: the metadata of every row in `tops`, each asked once of the rank whose shard
// holds it; answers the other ranks' asks from `shardMeta` (this rank's rows, from
// shardBegins[rank]). shardBegins: every rank's first row, then the corpus size. Each
// PrecedentMeta has `numCritics` severities. Failures (here or, for what it asked, at a peer)
// are kept in `failure` (the table then lacks rows).
PrecedentTable fetchPrecedentMeta(Communicator& comm,
                                  const std::vector<std::vector<Candidate>>& tops,
                                  std::span<const int64_t> shardBegins,
                                  const std::vector<PrecedentMeta>& shardMeta, size_t numCritics,
                                  DeferredFailure& failure);

}  // namespace eleanor
