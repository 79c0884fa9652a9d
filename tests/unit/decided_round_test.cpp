// packDecidedRound / unpackDecidedRound: what a rank sends rank 0 comes back whole.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/error.h"
#include "worker/output/decided_round.h"

namespace eleanor {
namespace {

TEST(DecidedRound, PackedRoundsComeBackWhole) {
  std::mt19937_64 random(20261126);
  for (int trial = 0; trial < 50; ++trial) {
    std::string results, errors;
    DecidedRound round;
    DecidedCounts& counts = round.counts;
    counts.results = static_cast<int64_t>(random() % 5);
    for (int64_t i = 0; i < counts.results; ++i)
      results += "{\"id\":\"c" + std::to_string(random()) + "\",\"note\":\"caf\xc3\xa9\"}\n";
    counts.errors = static_cast<int64_t>(random() % 3);
    for (int64_t i = 0; i < counts.errors; ++i) errors += "{\"line\":7,\"reason\":\"bad\"}\n";
    counts.lines = counts.results + counts.errors + static_cast<int64_t>(random() % 4);
    counts.blank = counts.lines - counts.results - counts.errors;
    counts.lastErrorLine = counts.errors > 0 ? 7 : 0;
    for (auto& d : counts.decisions) d = static_cast<int64_t>(random() % 100);
    round.resultText = results;
    round.errorText = errors;

    const std::vector<std::byte> block = packDecidedRound(round);
    const DecidedRound back = unpackDecidedRound(block);
    EXPECT_EQ(back.counts.lines, counts.lines);
    EXPECT_EQ(back.counts.blank, counts.blank);
    EXPECT_EQ(back.counts.results, counts.results);
    EXPECT_EQ(back.counts.errors, counts.errors);
    EXPECT_EQ(back.counts.lastErrorLine, counts.lastErrorLine);
    EXPECT_EQ(back.counts.decisions, counts.decisions);
    EXPECT_EQ(back.resultText, results);
    EXPECT_EQ(back.errorText, errors);
  }
}

TEST(DecidedRound, AShortOrInconsistentBlockIsAnError) {
  DecidedRound round;
  round.counts.results = 1;
  const std::string line = "{\"id\":\"a\"}\n";
  round.resultText = line;
  std::vector<std::byte> block = packDecidedRound(round);
  EXPECT_THROW(unpackDecidedRound(std::span(block).first(10)), InternalError);
  block.push_back(std::byte{'x'});  // one byte more than the header says
  EXPECT_THROW(unpackDecidedRound(block), InternalError);
  block.resize(block.size() - 2);  // one byte fewer
  EXPECT_THROW(unpackDecidedRound(block), InternalError);
}

}  // namespace
}  // namespace eleanor
