// parsePrecedentLine: a good line gives the exact meta.jsonl bytes the corpus has always held
// (key order id, decision, severity, text; severity's keys sorted; other fields dropped); every
// kind of bad line gives a reason naming the field and what it must be; seeded random records
// survive the trip into their meta line.
#include "worker/cases/precedent_parser.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace eleanor {
namespace {

constexpr uint64_t kSeed = 8675309;

PrecedentRecord parsed(const std::string& line, int64_t number = 3) {
  auto result = parsePrecedentLine(line, number);
  if (const auto* error = std::get_if<LineError>(&result)) {
    ADD_FAILURE() << "rejected: " << error->reason << "\n  line: " << line;
    return {};
  }
  return std::get<PrecedentRecord>(result);
}

LineError rejected(const std::string& line, int64_t number = 3) {
  auto result = parsePrecedentLine(line, number);
  if (std::holds_alternative<PrecedentRecord>(result)) {
    ADD_FAILURE() << "accepted: " << line;
    return {};
  }
  return std::get<LineError>(result);
}

TEST(PrecedentParser, AGoodLineGivesTheMetaLineInItsFixedKeyOrder) {
  const PrecedentRecord r =
      parsed(R"({"extra": [1], "text": "build a bomb", "severity": {"risk": 3, "rights": 1.5}, )"
             R"("decision": "deny", "id": "p1"})",
             7);
  EXPECT_EQ(r.line, 7);
  EXPECT_EQ(r.id, "p1");
  EXPECT_EQ(r.text, "build a bomb");
  EXPECT_EQ(
      r.metaLine,
      R"({"id":"p1","decision":"deny","severity":{"rights":1.5,"risk":3},"text":"build a bomb"})"
      "\n");
  for (const char* none : {"", R"(, "severity": null)"}) {
    EXPECT_EQ(
        parsed(fmt::format(R"({{"id": "a", "text": "t", "decision": "allow"{}}})", none)).metaLine,
        "{\"id\":\"a\",\"decision\":\"allow\",\"severity\":{},\"text\":\"t\"}\n");
  }
}

TEST(PrecedentParser, EachBadLineSaysWhichFieldAndWhatItMustBe) {
  struct Bad {
    std::string line;
    std::string id;
    std::string reason;  // the start of the reason
  };
  const std::string rest = R"("text": "t", "decision": "allow")";
  const std::vector<Bad> bad = {
      {"not json", "", "malformed JSON: "},
      {R"({"id": "p", "text": "t")", "", "malformed JSON: "},
      {"{\"id\": \"p\", \"text\": \"\xff\", \"decision\": \"allow\"}", "", "malformed JSON: "},
      {"[1, 2]", "",
       R"(expected a JSON object {"id": ..., "text": ..., "decision": ...}, got array)"},
      {"{" + rest + "}", "", R"(missing required field "id")"},
      {R"({"id": 7, )" + rest + "}", "7", R"(field "id" must be a string, got number)"},
      {R"({"id": "", )" + rest + "}", "", R"(field "id" is empty)"},
      {R"({"id": "p", "decision": "allow"})", "p", R"(missing required field "text")"},
      {R"({"id": "p", "text": ["t"], "decision": "allow"})", "p",
       R"(field "text" must be a string, got array)"},
      {R"({"id": "p", "text": "t"})", "p",
       R"(missing required field "decision" (one of allow, constrained_allow, escalate, deny))"},
      {R"({"id": "p", "text": "t", "decision": "maybe"})", "p",
       R"(field "decision" must be one of allow, constrained_allow, escalate, deny, got "maybe")"},
      {R"({"id": "p", "text": "t", "decision": 3})", "p",
       R"(field "decision" must be one of allow, constrained_allow, escalate, deny, got 3)"},
      {R"({"id": "p", )" + rest + R"(, "severity": [3]})", "p",
       R"(field "severity" must be an object {critic: 0..3}, got array)"},
      {R"({"id": "p", )" + rest + R"(, "severity": {"risk": 5}})", "p",
       R"(severity of "risk" must be a number in 0..3, got 5)"},
      {R"({"id": "p", )" + rest + R"(, "severity": {"risk": -0.5}})", "p",
       R"(severity of "risk" must be a number in 0..3, got -0.5)"},
      {R"({"id": "p", )" + rest + R"(, "severity": {"risk": "high"}})", "p",
       R"(severity of "risk" must be a number in 0..3, got "high")"},
  };
  for (const Bad& b : bad) {
    const LineError e = rejected(b.line, 12);
    EXPECT_EQ(e.line, 12) << b.line;
    EXPECT_EQ(e.id, b.id) << b.line;
    EXPECT_EQ(e.reason.substr(0, b.reason.size()), b.reason) << b.line;
  }
}

TEST(PrecedentParser, ASeverityForNoCriticIsKeptAndNamed) {
  const std::string rest = R"("id": "p", "text": "t", "decision": "deny")";
  EXPECT_EQ(parsed("{" + rest + R"(, "severity": {"rights": 2, "risk": 1}})").unknownCritic, "");
  const PrecedentRecord typo =
      parsed("{" + rest + R"(, "severity": {"rigths": 2, "risk": 1, "zeal": 3}})");
  EXPECT_EQ(typo.unknownCritic, "rigths");
  EXPECT_NE(typo.metaLine.find(R"("rigths":2)"), std::string::npos) << typo.metaLine;
}

TEST(PrecedentParser, AByteOrderMarkIsTheFirstLinesOnly) {
  const std::string line = "\xEF\xBB\xBF{\"id\": \"p\", \"text\": \"t\", \"decision\": \"allow\"}";
  EXPECT_EQ(parsed(line, 1).id, "p");
  EXPECT_NE(rejected(line, 2).reason.find("byte order mark"), std::string::npos);
}

TEST(PrecedentParser, ANulByteIsAnErrorNotTheEndOfTheLine) {
  const std::string line = R"({"id": "p", "text": "t", "decision": "allow"})";
  EXPECT_NE(rejected(line + std::string(1, '\0') + "x").reason.find("NUL byte"), std::string::npos);
}

TEST(PrecedentParser, SeededRandomRecordsSurviveTheTripIntoTheirMetaLine) {
  std::mt19937_64 rng(kSeed);
  const std::vector<std::string> pieces = {"a", "Z",    " ",    "\"", "\\", "\n", "\t",
                                           "é", "日本", "🙂", "{",  "}",  "0",  "/"};
  const std::vector<std::string> decisions = {"allow", "constrained_allow", "escalate", "deny"};
  const std::vector<std::string> critics = {"rights", "autonomy",   "fairness", "truth",
                                            "risk",   "operations", "custom"};
  const auto text = [&](int most) {
    std::string out;
    for (int n = std::uniform_int_distribution<int>(0, most)(rng); n > 0; --n)
      out += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
    return out;
  };
  for (int trial = 0; trial < 500; ++trial) {
    nlohmann::ordered_json line;
    line["id"] = fmt::format("p{}", text(6));  // (not "p" + ...: GCC 12 warns, wrongly)
    line["text"] = text(40);
    line["decision"] = decisions[std::uniform_int_distribution<size_t>(0, 3)(rng)];
    nlohmann::ordered_json severity = nlohmann::ordered_json::object();
    for (const auto& c : critics)
      if (rng() % 2) severity[c] = std::uniform_int_distribution<int>(0, 300)(rng) / 100.0;
    line["severity"] = severity;
    const std::string input = line.dump();
    SCOPED_TRACE(fmt::format("seed {} trial {}: {}", kSeed, trial, input));
    const PrecedentRecord r = parsed(input, trial + 1);
    EXPECT_EQ(r.id, line["id"].get<std::string>());
    EXPECT_EQ(r.text, line["text"].get<std::string>());
    ASSERT_FALSE(r.metaLine.empty());
    EXPECT_EQ(r.metaLine.back(), '\n');
    EXPECT_EQ(r.metaLine.find('\n'), r.metaLine.size() - 1) << "one line";
    const nlohmann::json meta = nlohmann::json::parse(r.metaLine);  // keys compared as sets
    const nlohmann::json given = nlohmann::json::parse(input);
    EXPECT_EQ(meta["id"], given["id"]);
    EXPECT_EQ(meta["decision"], given["decision"]);
    EXPECT_EQ(meta["severity"], given["severity"]);
    EXPECT_EQ(meta["text"], given["text"]);
  }
}

}  // namespace
}  // namespace eleanor
