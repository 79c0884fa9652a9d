// Each rank decides its own cases: exchangeTopK and fetchPrecedentMeta at whatever W mpirun
// started, against a brute-force reference on seeded random data that every rank draws alike.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "common/agreement.h"
#include "common/mpi_communicator.h"
#include "common/partition.h"
#include "worker/retrieval/list_exchange.h"

namespace eleanor {
namespace {

constexpr double kTimeout = 60;
constexpr uint64_t kSeed = 20261126;
constexpr size_t kCritics = 3;

// One round's world, the same on every rank: N rows split as the job splits them, each rank's
// case count, and a score for every (case, row). Scores sit on a coarse grid so that ties are
// common: the merge must break them by global row.
struct Round {
  int64_t rows = 0;
  int k = 0;
  std::vector<size_t> casesPerRank;
  std::vector<int64_t> shardBegins;
  std::vector<double> scores;  // case-major: all cases of the round (ranks in order) x rows

  double score(size_t c, int64_t row) const {
    return scores[c * static_cast<size_t>(rows) + static_cast<size_t>(row)];
  }
};

Round drawRound(uint64_t seed, int world) {
  std::mt19937_64 random(seed);
  Round round;
  round.rows = std::uniform_int_distribution<int64_t>(0, 40)(random);  // some N < W, some 0
  round.k = std::uniform_int_distribution<int>(1, 12)(random);
  size_t cases = 0;
  for (int r = 0; r < world; ++r) {
    round.casesPerRank.push_back(std::uniform_int_distribution<size_t>(0, 6)(random));
    cases += round.casesPerRank.back();
    round.shardBegins.push_back(evenSplit(round.rows, world, r).begin);
  }
  round.shardBegins.push_back(round.rows);
  std::uniform_int_distribution<int> grid(-8, 8);
  for (size_t i = 0; i < cases * static_cast<size_t>(round.rows); ++i)
    round.scores.push_back(grid(random) / 8.0);
  return round;
}

PrecedentMeta metaOf(int64_t row) {
  static const char* kDecisions[] = {"allow", "constrained_allow", "escalate", "deny"};
  // Ids of many lengths, one empty: the answer's text is cut at each row's lengths.
  return {row == 7 ? std::string() : fmt::format("p{}{}", row, std::string(row % 11, 'x')),
          kDecisions[row % 4],
          {double(row % 3), row % 5 == 0 ? -1.0 : 0.5 * row, 2.25}};
}

// This rank's shard's top-k lists (k slots each, empty slots last) of every case of the round.
std::vector<Candidate> shardLists(const Round& round, int rank) {
  std::vector<Candidate> lists;
  size_t cases = 0;
  for (size_t n : round.casesPerRank) cases += n;
  for (size_t c = 0; c < cases; ++c) {
    std::vector<Candidate> mine;
    for (int64_t row = round.shardBegins[rank]; row < round.shardBegins[rank + 1]; ++row)
      mine.push_back({round.score(c, row), row});
    std::sort(mine.begin(), mine.end(), ranksBefore);
    mine.resize(static_cast<size_t>(round.k));  // pads with empty slots
    lists.insert(lists.end(), mine.begin(), mine.end());
  }
  return lists;
}

TEST(ListExchange, EachRankGetsTheGlobalTopKOfItsCasesAndTheirMetadata) {
  MpiCommunicator comm(kTimeout);
  for (uint64_t trial = 0; trial < 30; ++trial) {
    const Round round = drawRound(kSeed + trial, comm.size());
    SCOPED_TRACE(fmt::format("seed {} rows {} k {} rank {}/{}", kSeed + trial, round.rows, round.k,
                             comm.rank(), comm.size()));
    std::vector<PrecedentMeta> shardMeta;
    for (int64_t row = round.shardBegins[comm.rank()]; row < round.shardBegins[comm.rank() + 1];
         ++row)
      shardMeta.push_back(metaOf(row));

    DeferredFailure failure;
    const std::vector<Candidate> lists = shardLists(round, comm.rank());
    const auto tops = exchangeTopK(comm, lists, round.casesPerRank, round.k, failure);
    const auto meta =
        fetchPrecedentMeta(comm, tops, round.shardBegins, shardMeta, kCritics, failure);
    ASSERT_FALSE(failure.failed());

    // The reference: every row of the corpus ranked for each of this rank's cases.
    size_t first = 0;
    for (int r = 0; r < comm.rank(); ++r) first += round.casesPerRank[r];
    ASSERT_EQ(tops.size(), round.casesPerRank[comm.rank()]);
    size_t named = 0;
    for (size_t i = 0; i < tops.size(); ++i) {
      std::vector<Candidate> all;
      for (int64_t row = 0; row < round.rows; ++row)
        all.push_back({round.score(first + i, row), row});
      std::sort(all.begin(), all.end(), ranksBefore);
      all.resize(std::min(all.size(), static_cast<size_t>(round.k)));
      ASSERT_EQ(tops[i].size(), all.size()) << "case " << i;
      for (size_t j = 0; j < all.size(); ++j) {
        EXPECT_EQ(tops[i][j].row, all[j].row) << "case " << i << " place " << j;
        EXPECT_EQ(tops[i][j].score, all[j].score) << "case " << i << " place " << j;
        ASSERT_TRUE(meta.contains(all[j].row)) << "no metadata for row " << all[j].row;
        const PrecedentTable::Entry found = meta.at(all[j].row);
        const PrecedentMeta expected = metaOf(all[j].row);
        EXPECT_EQ(found.id, expected.id);
        EXPECT_EQ(found.decision, expected.decision);
        EXPECT_EQ(std::vector<double>(found.severity.begin(), found.severity.end()),
                  expected.severity);
      }
      named += all.size();
    }
    EXPECT_LE(meta.size(), named) << "metadata for rows no case of this rank names";
  }
}

TEST(ListExchange, ARankThatCannotAnswerFailsEveryRankInsteadOfHangingThem) {
  MpiCommunicator comm(kTimeout);
  // Four rows per rank, k = 4, two cases each; the last rank has lost its metadata, so it
  // cannot answer what the others (and it) ask of it.
  const int world = comm.size();
  Round round;
  round.rows = 4 * world;
  round.k = 4;
  round.casesPerRank.assign(world, 2);
  for (int r = 0; r <= world; ++r) round.shardBegins.push_back(4 * r);
  for (int64_t i = 0; i < 2 * world * round.rows; ++i)
    round.scores.push_back(static_cast<double>(i % round.rows));  // the last rank's rows win
  std::vector<PrecedentMeta> shardMeta;
  if (comm.rank() != world - 1) {
    for (int64_t row = 4 * comm.rank(); row < 4 * comm.rank() + 4; ++row)
      shardMeta.push_back(metaOf(row));
  }
  DeferredFailure failure;
  const auto tops =
      exchangeTopK(comm, shardLists(round, comm.rank()), round.casesPerRank, round.k, failure);
  fetchPrecedentMeta(comm, tops, round.shardBegins, shardMeta, kCritics, failure);
  EXPECT_TRUE(failure.failed());
  try {
    runAgreed(comm, "aggregate", [&] { failure.rethrow(); });
    ADD_FAILURE() << "runAgreed did not stop";
  } catch (const JobFailure& e) {
    const std::string message = e.what();
    if (world > 1) {  // one rank's message has no rank prefix
      EXPECT_NE(message.find(fmt::format("rank {}/{}", world - 1, world)), std::string::npos)
          << message;
    }
    EXPECT_NE(message.find("does not hold"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace eleanor
