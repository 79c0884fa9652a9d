// PrecedentTable: rows added in ascending order come back by row as views of what was added
// (ids of any length, empty ones included), against a plain map of the same rows; a row not
// added, a row out of order and a wrong severity count are InternalErrors naming the row.
#include "worker/retrieval/precedent_table.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"

namespace eleanor {
namespace {

struct Row {
  std::string id, decision;
  std::vector<double> severity;
};

TEST(PrecedentTable, RowsComeBackAsAddedWhereverTheyAre) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 random(seed);
    const size_t critics = random() % 4;
    std::map<int64_t, Row> reference;
    int64_t row = -1;
    for (uint32_t n = random() % 300; n > 0; --n) {
      row += 1 + static_cast<int64_t>(random() % 5);
      Row r{std::string(random() % 40, static_cast<char>('a' + random() % 26)),
            random() % 2 ? "deny" : "constrained_allow",
            {}};
      for (size_t c = 0; c < critics; ++c) r.severity.push_back(double(random() % 7) / 2 - 0.5);
      reference[row] = r;
    }
    PrecedentTable table(critics);
    for (const auto& [at, r] : reference) table.add(at, r.id, r.decision, r.severity);
    ASSERT_EQ(table.size(), reference.size()) << "seed " << seed;
    for (int64_t at = -1; at <= row + 1; ++at) {
      const auto found = reference.find(at);
      ASSERT_EQ(table.contains(at), found != reference.end()) << "seed " << seed << " row " << at;
      if (found == reference.end()) {
        EXPECT_THROW(table.at(at), InternalError);
        continue;
      }
      const PrecedentTable::Entry entry = table.at(at);
      EXPECT_EQ(entry.id, found->second.id) << "seed " << seed << " row " << at;
      EXPECT_EQ(entry.decision, found->second.decision) << "seed " << seed << " row " << at;
      EXPECT_EQ(std::vector<double>(entry.severity.begin(), entry.severity.end()),
                found->second.severity)
          << "seed " << seed << " row " << at;
    }
  }
}

TEST(PrecedentTable, RowsOutOfOrderAndWrongSeveritiesAreRefusedByRow) {
  PrecedentTable table(2);
  table.add(5, "p5", "allow", std::vector<double>{0, 1});
  const auto message = [&](auto&& call) {
    try {
      call();
    } catch (const InternalError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message([&] {
              table.add(5, "again", "allow", std::vector<double>{0, 1});
            }).find("precedent row 5 added after row 5"),
            std::string::npos);
  EXPECT_NE(message([&] {
              table.add(4, "p4", "allow", std::vector<double>{0, 1});
            }).find("precedent row 4 added after row 5"),
            std::string::npos);
  EXPECT_NE(message([&] {
              table.add(6, "p6", "allow", std::vector<double>{0});
            }).find("precedent row 6 has 1 severities for 2 critics"),
            std::string::npos);
  EXPECT_NE(message([&] { table.at(6); }).find("no metadata was fetched for precedent row 6"),
            std::string::npos);
  EXPECT_EQ(table.size(), 1u);  // the refused rows left nothing behind
  EXPECT_EQ(table.at(5).id, "p5");
}

}  // namespace
}  // namespace eleanor
