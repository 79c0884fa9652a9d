// ResultSpool: commit() writes each rank's lines in rank order whatever order they arrived in,
// leaves no temporary or staging file, writes an empty errors.jsonl when there are none, and an
// output folder that cannot be made is a UserError naming it. formatResultLine and
// formatErrorLine: exact text, key order and rounding.
#include "worker/output/result_spool.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"
#include "worker/output/case_result.h"

namespace eleanor {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSeed = 31337;
constexpr int kMaxWorld = 6;

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

class ResultSpoolTest : public ScratchDirTest {};

TEST_F(ResultSpoolTest, CommitWritesRanksInOrderWhateverTheAppendOrder) {
  std::mt19937_64 rng(kSeed);
  for (int trial = 0; trial < 25; ++trial) {
    const int world = 1 + static_cast<int>(rng() % kMaxWorld);
    const fs::path out = dir_ / fmt::format("out-{}", trial) / "nested";
    const std::string params = fmt::format("seed={} trial={} world={}", kSeed, trial, world);
    ResultSpool spool(out.string(), world, false);
    EXPECT_EQ(spool.outputDir(), out.string());
    std::vector<std::string> results(world), errors(world);
    const int rounds = static_cast<int>(rng() % 30);
    for (int round = 0; round < rounds; ++round) {
      const int rank = static_cast<int>(rng() % world);
      std::vector<std::string> r, e;
      for (int i = static_cast<int>(rng() % 4); i > 0; --i) {
        r.push_back(
            fmt::format(R"({{"id":"rank{}-round{}-{}","note":"caf\u00e9"}})", rank, round, i));
        results[rank] += r.back() + "\n";
      }
      if (rng() % 3 == 0) {
        e.push_back(fmt::format(R"({{"line":{},"reason":"bad"}})", round));
        errors[rank] += e.back() + "\n";
      }
      if (rng() % 2 == 0) {
        spool.append(rank, r, e);
      } else {  // the same lines as text blocks, as the job's ranks send them
        std::string resultText, errorText;
        for (const auto& line : r) resultText += line + "\n";
        for (const auto& line : e) errorText += line + "\n";
        spool.appendText(rank, resultText, errorText);
      }
    }
    spool.commit();
    std::string expectedResults, expectedErrors;
    for (int r = 0; r < world; ++r) {
      expectedResults += results[r];
      expectedErrors += errors[r];
    }
    EXPECT_EQ(readFile(out / "results.jsonl"), expectedResults) << params;
    EXPECT_EQ(readFile(out / "errors.jsonl"), expectedErrors) << params;
    EXPECT_EQ(entries(out), (std::set<std::string>{"results.jsonl", "errors.jsonl"}))
        << params << ": a temporary or staging file was left behind";
  }
}

TEST_F(ResultSpoolTest, NoErrorsGivesAnEmptyErrorsFile) {
  ResultSpool spool(dir_.string(), 3, false);
  spool.append(2, {"{\"id\":\"z\"}"}, {});
  spool.append(0, {"{\"id\":\"a\"}"}, {});
  spool.commit();
  ASSERT_TRUE(fs::exists(dir_ / "errors.jsonl"));
  EXPECT_EQ(fs::file_size(dir_ / "errors.jsonl"), 0u);
  EXPECT_EQ(readFile(dir_ / "results.jsonl"), "{\"id\":\"a\"}\n{\"id\":\"z\"}\n");
}

TEST_F(ResultSpoolTest, NothingAppendedGivesTwoEmptyFiles) {
  ResultSpool spool(dir_.string(), 4, false);
  spool.commit();
  EXPECT_EQ(readFile(dir_ / "results.jsonl"), "");
  EXPECT_EQ(readFile(dir_ / "errors.jsonl"), "");
  EXPECT_EQ(entries(dir_), (std::set<std::string>{"results.jsonl", "errors.jsonl"}));
}

TEST_F(ResultSpoolTest, CommitReplacesAnEarlierRunsFiles) {
  std::ofstream(dir_ / "results.jsonl") << "old line 1\nold line 2\nold line 3\n";
  std::ofstream(dir_ / "errors.jsonl") << "old error\n";
  ResultSpool spool(dir_.string(), 1, false);
  spool.append(0, {"new"}, {});
  spool.commit();
  EXPECT_EQ(readFile(dir_ / "results.jsonl"), "new\n");
  EXPECT_EQ(readFile(dir_ / "errors.jsonl"), "");
}

TEST_F(ResultSpoolTest, WriteFileIsAtomicAndLeavesNoTemporary) {
  ResultSpool spool(dir_.string(), 1, false);
  spool.writeFile("report.json", "{\"cases\": 3}\n");
  spool.writeFile("report.json", "{\"cases\": 4}\n");
  EXPECT_EQ(readFile(dir_ / "report.json"), "{\"cases\": 4}\n");
  spool.commit();
  EXPECT_EQ(entries(dir_), (std::set<std::string>{"results.jsonl", "errors.jsonl", "report.json"}));
}

TEST_F(ResultSpoolTest, AnOutputFolderThatCannotBeCreatedNamesIt) {
  const fs::path file = dir_ / "plain-file";
  std::ofstream(file) << "not a folder";
  for (const fs::path& out : {file / "out", file}) {
    try {
      ResultSpool spool(out.string(), 2, false);
      ADD_FAILURE() << "no error for " << out;
    } catch (const UserError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("'" + out.string() + "'"), std::string::npos) << message;
      EXPECT_NE(message.find("job.output"), std::string::npos) << message;
    }
  }
  EXPECT_EQ(readFile(file), "not a folder") << "the failed attempt must not touch the file";
  // A usable folder still works afterwards.
  ResultSpool spool((dir_ / "ok").string(), 1, false);
  spool.commit();
  EXPECT_TRUE(fs::exists(dir_ / "ok" / "results.jsonl"));
}

// ---- formatting ----

TEST(CaseResultRound, SixDecimalsHalfAwayFromZeroAndNoNegativeZero) {
  const std::vector<std::pair<double, double>> table = {
      {0.1234565, 0.123457},
      {-0.1234565, -0.123457},
      {0.9876545, 0.987655},
      {1.23456789, 1.234568},
      {-0.3333333, -0.333333},
      {2.6749995, 2.675},
      {1.0000005, 1.000001},
      {0.9999996, 1.0},
      {3.0, 3.0},
      {5e-7, 1e-6},
      {-5e-7, -1e-6},
      {123456.1234564, 123456.123456},
      {0.0, 0.0},
  };
  for (const auto& [x, expected] : table) {
    EXPECT_EQ(roundForOutput(x), expected) << fmt::format("roundForOutput({})", x);
  }
  for (const double tiny : {-4e-7, -1e-12, -0.0, 4e-7}) {
    const double r = roundForOutput(tiny);
    EXPECT_EQ(r, 0.0) << tiny;
    EXPECT_FALSE(std::signbit(r)) << "roundForOutput(" << tiny << ") is -0";
  }
}

CaseResult sampleResult() {
  CaseResult r;
  r.id = "case-\"1\"";
  r.aggregate.decision = Decision::kEscalate;
  r.aggregate.severities = {1.23456789, 0.5};
  r.aggregate.averageSeverity = 0.8672839;
  r.aggregate.totalSeverity = 1.7345678;
  r.aggregate.alignment = -0.3333333;
  r.aggregate.uncertainty = 0.1234565;
  r.aggregate.novel = false;
  r.aggregate.decidingCritic = 0;
  r.rawSeverities = {1.0, 0.25};
  r.flags = {{"slur", "threat"}, {}};
  r.precedents = {{"p1", 0.9876545, "allow"}, {"p2", 0.5, "deny"}};
  return r;
}

TEST(CaseResultFormat, ResultLineKeyOrderAndRounding) {
  EXPECT_EQ(
      formatResultLine(sampleResult(), {"rights", "autonomy"}),
      R"({"id":"case-\"1\"","decision":"escalate",)"
      R"("score":{"average_severity":0.867284,"total_severity":1.734568},)"
      R"("critics":{"rights":{"severity":1.0,"adjusted":1.234568,"flags":["slur","threat"]},)"
      R"("autonomy":{"severity":0.25,"adjusted":0.5,"flags":[]}},)"
      R"("precedents":[{"id":"p1","similarity":0.987655,"decision":"allow"},)"
      R"({"id":"p2","similarity":0.5,"decision":"deny"}],)"
      R"("alignment":-0.333333,"uncertainty":0.123457,"novel":false,"deciding_critic":"rights"})");
}

TEST(CaseResultFormat, AllowWithoutPrecedentsHasNullDecidingCritic) {
  CaseResult r;
  r.id = "c";
  r.aggregate.decision = Decision::kAllow;
  r.aggregate.severities = {0.0};
  r.aggregate.alignment = -1e-9;  // rounds to 0, printed without a sign
  r.rawSeverities = {0.0};
  r.flags = {{}};
  EXPECT_EQ(formatResultLine(r, {"rights"}),
            R"({"id":"c","decision":"allow","score":{"average_severity":0.0,"total_severity":0.0},)"
            R"("critics":{"rights":{"severity":0.0,"adjusted":0.0,"flags":[]}},"precedents":[],)"
            R"("alignment":0.0,"uncertainty":0.0,"novel":true,"deciding_critic":null})");
}

TEST(CaseResultFormat, InvalidUtf8IsReplacedNotThrown) {
  CaseResult r = sampleResult();
  r.id = "bad\xFFid";
  std::string line;
  EXPECT_NO_THROW(line = formatResultLine(r, {"rights", "autonomy"}));
  EXPECT_EQ(line.rfind(R"({"id":"bad)"
                       "\xEF\xBF\xBD"
                       R"(id",)",
                       0),
            0u)
      << line;
  EXPECT_EQ(formatErrorLine(1, "", "oops\xC3"), "{\"line\":1,\"reason\":\"oops\xEF\xBF\xBD\"}");
}

// The line as a fresh tree a case gives it: what formatResultLine, which reuses one tree a
// thread, must write for any sequence of cases.
std::string referenceResultLine(const CaseResult& result, const std::vector<std::string>& critics) {
  using Json = nlohmann::ordered_json;
  const AggregateResult& a = result.aggregate;
  Json line;
  line["id"] = result.id;
  line["decision"] = std::string(decisionName(a.decision));
  line["score"] = {{"average_severity", roundForOutput(a.averageSeverity)},
                   {"total_severity", roundForOutput(a.totalSeverity)}};
  Json criticsJson = Json::object();
  for (size_t c = 0; c < critics.size(); ++c)
    criticsJson[critics[c]] = {{"severity", roundForOutput(result.rawSeverities[c])},
                               {"adjusted", roundForOutput(a.severities[c])},
                               {"flags", result.flags[c]}};
  line["critics"] = std::move(criticsJson);
  Json precedents = Json::array();
  for (const auto& p : result.precedents)
    precedents.push_back(
        {{"id", p.id}, {"similarity", roundForOutput(p.similarity)}, {"decision", p.decision}});
  line["precedents"] = std::move(precedents);
  line["alignment"] = roundForOutput(a.alignment);
  line["uncertainty"] = roundForOutput(a.uncertainty);
  line["novel"] = a.novel;
  line["deciding_critic"] =
      a.decidingCritic >= 0 ? Json(critics[static_cast<size_t>(a.decidingCritic)]) : Json(nullptr);
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST(CaseResultFormat, ReusedTreeWritesWhatAFreshTreeWrites) {
  const std::vector<std::vector<std::string>> criticLists{
      {"rights", "autonomy", "fairness", "truth", "risk", "operations"},
      {"rights"},
      {"risk", "rights", "x\"y"}};
  const std::vector<std::string> texts{
      "",     "p1",   "caf\xC3\xA9", "quote\"back\\slash\n", "bad\xFF", std::string(40, 'a'),
      "deny", "allow"};
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    std::mt19937 random(seed);
    const auto pick = [&](const std::vector<std::string>& from) {
      return from[random() % from.size()];
    };
    const auto number = [&] {
      switch (random() % 4) {
        case 0:
          return 0.0;
        case 1:
          return -1e-9;
        case 2:
          return 3.0;
        default:
          return std::uniform_real_distribution<double>(-1.5, 3.5)(random);
      }
    };
    // Runs of cases with one critic list, then another: the tree is rebuilt between runs, and
    // within a run lists of precedents and flags grow and shrink.
    for (int run = 0; run < 6; ++run) {
      const std::vector<std::string>& critics = criticLists[random() % criticLists.size()];
      for (int n = 0; n < 20; ++n) {
        CaseResult r;
        r.id = pick(texts);
        r.aggregate.decision = static_cast<Decision>(random() % 4);
        r.aggregate.averageSeverity = number();
        r.aggregate.totalSeverity = number();
        r.aggregate.alignment = number();
        r.aggregate.uncertainty = number();
        r.aggregate.novel = random() % 2 == 0;
        r.aggregate.decidingCritic = static_cast<int>(random() % (critics.size() + 1)) - 1;
        for (size_t c = 0; c < critics.size(); ++c) {
          r.rawSeverities.push_back(number());
          r.aggregate.severities.push_back(number());
          r.flags.emplace_back();
          for (uint32_t f = random() % 4; f > 0; --f) r.flags.back().push_back(pick(texts));
        }
        for (uint32_t p = random() % 13; p > 0; --p)
          r.precedents.push_back({pick(texts), number(), pick(texts)});
        ASSERT_EQ(formatResultLine(r, critics), referenceResultLine(r, critics))
            << "seed " << seed << ", run " << run << ", case " << n;
      }
    }
  }
}

TEST(CaseResultFormat, ErrorLineOmitsAnUnknownId) {
  EXPECT_EQ(formatErrorLine(12, "", "malformed JSON: x"),
            R"({"line":12,"reason":"malformed JSON: x"})");
  EXPECT_EQ(formatErrorLine(3, "c\"1", "field \"text\" is missing\n"),
            R"({"line":3,"id":"c\"1","reason":"field \"text\" is missing\n"})");
  EXPECT_EQ(formatErrorLine(int64_t{1} << 40, "x", ""),
            R"({"line":1099511627776,"id":"x","reason":""})");
}

}  // namespace
}  // namespace eleanor
