// Loading and validating the rules critics file: the shipped file loads, and every user
// mistake is a UserError naming the file, the line and the dotted key.
#include "worker/critics/critic_rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"

#ifndef ELEANOR_SOURCE_DIR
#error "ELEANOR_SOURCE_DIR must name the repository root"
#endif

namespace eleanor {
namespace {

namespace fs = std::filesystem;

std::string shippedRulesPath() {
  return std::string(ELEANOR_SOURCE_DIR) + "/config/critics.yaml";
}

// A per-process temp folder for the test's rule files, removed when the tests end.
const fs::path& tempDir() {
  struct Dir {
    fs::path path =
        fs::temp_directory_path() / ("eleanor-critic-rules-" + std::to_string(getpid()));
    ~Dir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Writes `text` to `name` in the temp folder and returns its path.
std::string writeRules(const std::string& name, const std::string& text) {
  fs::create_directories(tempDir());
  const fs::path path = tempDir() / name;
  std::ofstream(path) << text;
  return path.string();
}

// The message of the UserError that loading `text` throws ("" if it does not throw).
std::string loadError(const std::string& name, const std::string& text) {
  const std::string path = writeRules(name, text);
  try {
    loadCriticRules(path);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

// A valid file; tests break one line of it at a time. Line numbers matter below.
const char* kValid =
    "text_weight: 0.3\n"            // 1
    "output_weight: 1.0\n"          // 2
    "critics:\n"                    // 3
    "  rights:\n"                   // 4
    "    categories:\n"             // 5
    "      slur:\n"                 // 6
    "        weight: 0.5\n"         // 7
    "        regex:\n"              // 8
    "          - 'bad\\s+word'\n"   // 9
    "          - 'worse\\d+'\n"     // 10
    "        keywords: [awful]\n";  // 11

std::string replaceLine(const std::string& text, int line, const std::string& replacement) {
  size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = text.find('\n', begin) + 1;
  const size_t end = text.find('\n', begin);
  return text.substr(0, begin) + replacement + text.substr(end);
}

TEST(CriticRules, ShippedFileLoadsAllSixCriticsInPriorityOrder) {
  const CriticRules rules = loadCriticRules(shippedRulesPath());
  EXPECT_EQ(rules.textWeight, 0.3);
  EXPECT_EQ(rules.outputWeight, 1.0);
  ASSERT_EQ(rules.critics.size(), knownCriticNames().size());
  for (size_t c = 0; c < rules.critics.size(); ++c) {
    const RuleCriticSet& critic = rules.critics[c];
    EXPECT_EQ(critic.name, knownCriticNames()[c]);
    EXPECT_GE(critic.categories.size(), 3u) << critic.name;
    for (const RuleCategory& category : critic.categories) {
      EXPECT_GT(category.weight, 0.0) << critic.name << "." << category.name;
      EXPECT_LE(category.floor, critic.maxSeverity) << critic.name << "." << category.name;
      EXPECT_FALSE(category.regex.empty() && category.keywords.empty()) << category.name;
      for (const RulePattern& pattern : category.regex) EXPECT_GT(pattern.line, 0);
    }
  }
  EXPECT_EQ(knownCriticNames(), (std::vector<std::string>{"rights", "autonomy", "fairness", "truth",
                                                          "risk", "operations"}));
}

TEST(CriticRules, ReadsValuesPatternsAndTheirLines) {
  const CriticRules rules = loadCriticRules(writeRules("valid.yaml", kValid));
  ASSERT_EQ(rules.critics.size(), 1u);
  const RuleCriticSet& rights = rules.critics[0];
  EXPECT_EQ(rights.keywordFactor, 0.85);  // the built-in default
  EXPECT_EQ(rights.maxSeverity, 3.0);
  ASSERT_EQ(rights.categories.size(), 1u);
  const RuleCategory& slur = rights.categories[0];
  EXPECT_EQ(slur.name, "slur");
  EXPECT_EQ(slur.weight, 0.5);
  EXPECT_EQ(slur.floor, 0.0);
  ASSERT_EQ(slur.regex.size(), 2u);
  EXPECT_EQ(slur.regex[0].text, "bad\\s+word");
  EXPECT_EQ(slur.regex[0].line, 9);
  EXPECT_EQ(slur.regex[1].line, 10);
  ASSERT_EQ(slur.keywords.size(), 1u);
  EXPECT_EQ(slur.keywords[0].text, "awful");
  EXPECT_EQ(slur.keywords[0].line, 11);
}

TEST(CriticRules, CriticsComeOutInPriorityOrderWithOverrides) {
  const std::string text =
      "keyword_factor: 0.5\n"
      "critics:\n"
      "  operations:\n"
      "    max_severity: 2.5\n"
      "    categories: {spam: {weight: 0.2, keywords: [buy now]}}\n"
      "  rights:\n"
      "    keyword_factor: 0.9\n"
      "    categories: {slur: {weight: 0.5, floor: 2, keywords: [awful]}}\n";
  const CriticRules rules = loadCriticRules(writeRules("order.yaml", text));
  ASSERT_EQ(rules.critics.size(), 2u);
  EXPECT_EQ(rules.critics[0].name, "rights");
  EXPECT_EQ(rules.critics[0].keywordFactor, 0.9);
  EXPECT_EQ(rules.critics[0].categories[0].floor, 2.0);
  EXPECT_EQ(rules.critics[1].name, "operations");
  EXPECT_EQ(rules.critics[1].keywordFactor, 0.5);  // the file's default
  EXPECT_EQ(rules.critics[1].maxSeverity, 2.5);
}

TEST(CriticRules, UnknownKeyNamesFileLineAndKey) {
  const std::string message =
      loadError("unknown.yaml", replaceLine(kValid, 7, "        wieght: 0.5"));
  EXPECT_NE(message.find("unknown.yaml:7"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'critics.rights.categories.slur.wieght'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("did you mean 'critics.rights.categories.slur.weight'"), std::string::npos)
      << message;

  const std::string extra =
      loadError("extra.yaml", replaceLine(kValid, 7, "        weight: 0.5\n        colour: red"));
  EXPECT_NE(extra.find("extra.yaml:8"), std::string::npos) << extra;
  EXPECT_NE(extra.find("unknown key 'critics.rights.categories.slur.colour'"), std::string::npos)
      << extra;

  const std::string typo = loadError("typo.yaml", replaceLine(kValid, 1, "text_wieght: 0.3"));
  EXPECT_NE(typo.find("typo.yaml:1"), std::string::npos) << typo;
  EXPECT_NE(typo.find("'text_wieght'"), std::string::npos) << typo;
  EXPECT_NE(typo.find("did you mean 'text_weight'"), std::string::npos) << typo;
}

TEST(CriticRules, ARepeatedKeyNamesBothLines) {
  const std::string message =
      loadError("twice.yaml", replaceLine(kValid, 7, "        weight: 0.5\n        weight: 0.9"));
  EXPECT_NE(message.find("twice.yaml:8: key 'critics.rights.categories.slur.weight' appears "
                         "twice (also at line 7)"),
            std::string::npos)
      << message;
}

TEST(CriticRules, WrongTypeNamesFileLineAndKey) {
  const std::string message =
      loadError("type.yaml", replaceLine(kValid, 7, "        weight: heavy"));
  EXPECT_NE(message.find("type.yaml:7"), std::string::npos) << message;
  EXPECT_NE(message.find("critics.rights.categories.slur.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("a number"), std::string::npos) << message;

  const std::string list =
      loadError("list.yaml", replaceLine(kValid, 11, "        keywords: awful"));
  EXPECT_NE(list.find("list.yaml:11"), std::string::npos) << list;
  EXPECT_NE(list.find("critics.rights.categories.slur.keywords"), std::string::npos) << list;

  const std::string critics = loadError("critics.yaml", "critics: [rights, truth]\n");
  EXPECT_NE(critics.find("critics.yaml:1"), std::string::npos) << critics;
  EXPECT_NE(critics.find("'critics'"), std::string::npos) << critics;
}

TEST(CriticRules, ValuesOutOfRangeAreRejected) {
  const std::string weight =
      loadError("weight.yaml", replaceLine(kValid, 7, "        weight: 1.5"));
  EXPECT_NE(weight.find("weight.yaml:7"), std::string::npos) << weight;
  EXPECT_NE(weight.find("critics.rights.categories.slur.weight"), std::string::npos) << weight;
  EXPECT_NE(weight.find("(0, 1]"), std::string::npos) << weight;

  EXPECT_NE(loadError("zero.yaml", replaceLine(kValid, 7, "        weight: 0")).find("(0, 1]"),
            std::string::npos);
  const std::string floor =
      loadError("floor.yaml", replaceLine(kValid, 7, "        weight: 0.5\n        floor: 3.5"));
  EXPECT_NE(floor.find("floor.yaml:8"), std::string::npos) << floor;
  EXPECT_NE(floor.find("slur.floor"), std::string::npos) << floor;
  const std::string textWeight = loadError("tw.yaml", replaceLine(kValid, 1, "text_weight: -0.1"));
  EXPECT_NE(textWeight.find("tw.yaml:1"), std::string::npos) << textWeight;
  EXPECT_NE(textWeight.find("'text_weight'"), std::string::npos) << textWeight;
  const std::string maxSeverity =
      loadError("max.yaml", replaceLine(kValid, 5, "    max_severity: 4\n    categories:"));
  EXPECT_NE(maxSeverity.find("max.yaml:5"), std::string::npos) << maxSeverity;
  EXPECT_NE(maxSeverity.find("critics.rights.max_severity"), std::string::npos) << maxSeverity;
}

TEST(CriticRules, BadRegexNamesCriticCategoryPatternLineAndHyperscanMessage) {
  const std::string message =
      loadError("regex.yaml", replaceLine(kValid, 10, "          - '(unclosed'"));
  EXPECT_NE(message.find("regex.yaml:10"), std::string::npos) << message;
  EXPECT_NE(message.find("critics.rights.categories.slur.regex[1]"), std::string::npos) << message;
  EXPECT_NE(message.find("critic 'rights'"), std::string::npos) << message;
  EXPECT_NE(message.find("category 'slur'"), std::string::npos) << message;
  EXPECT_NE(message.find("'(unclosed'"), std::string::npos) << message;
  EXPECT_NE(message.find("Missing close parenthesis"), std::string::npos) << message;

  const std::string lookahead =
      loadError("look.yaml", replaceLine(kValid, 9, "          - '(?=x)bad'"));
  EXPECT_NE(lookahead.find("look.yaml:9"), std::string::npos) << lookahead;
  EXPECT_NE(lookahead.find("regex[0]"), std::string::npos) << lookahead;
  EXPECT_NE(lookahead.find("not supported"), std::string::npos) << lookahead;

  const std::string backref =
      loadError("backref.yaml", replaceLine(kValid, 9, "          - '(a)\\1'"));
  EXPECT_NE(backref.find("Back-references"), std::string::npos) << backref;

  const std::string empty = loadError("empty.yaml", replaceLine(kValid, 9, "          - 'a*'"));
  EXPECT_NE(empty.find("empty.yaml:9"), std::string::npos) << empty;
  EXPECT_NE(empty.find("empty string"), std::string::npos) << empty;

  const std::string nonAscii =
      loadError("utf8.yaml", replaceLine(kValid, 9, "          - 'caf\xc3\xa9+'"));
  EXPECT_NE(nonAscii.find("utf8.yaml:9"), std::string::npos) << nonAscii;
  EXPECT_NE(nonAscii.find("ASCII"), std::string::npos) << nonAscii;
}

TEST(CriticRules, UnknownAndEmptyCriticsAndCategories) {
  const std::string unknown = loadError("ethics.yaml", replaceLine(kValid, 4, "  ethics:"));
  EXPECT_NE(unknown.find("ethics.yaml:4"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("'critics.ethics'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("unknown critic"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("rights, autonomy, fairness, truth, risk, operations"), std::string::npos)
      << unknown;
  EXPECT_NE(unknown.find("knownCriticNames()"), std::string::npos) << unknown;

  const std::string emptyCritic =
      loadError("nocat.yaml", "critics:\n  rights:\n    categories: {}\n");
  EXPECT_NE(emptyCritic.find("nocat.yaml:3"), std::string::npos) << emptyCritic;
  EXPECT_NE(emptyCritic.find("critics.rights.categories"), std::string::npos) << emptyCritic;
  EXPECT_NE(emptyCritic.find("no categories"), std::string::npos) << emptyCritic;

  const std::string badName = loadError(
      "name.yaml",
      "critics:\n  rights:\n    categories:\n      bad name: {weight: 0.5, keywords: [x]}\n");
  EXPECT_NE(badName.find("name.yaml:4"), std::string::npos) << badName;
  EXPECT_NE(badName.find("critics.rights.categories.bad name"), std::string::npos) << badName;
  EXPECT_NE(badName.find("only letters, digits"), std::string::npos) << badName;

  const std::string noCritics = loadError("none.yaml", "text_weight: 0.3\n");
  EXPECT_NE(noCritics.find("no critics defined"), std::string::npos) << noCritics;

  const std::string emptyCategory =
      loadError("nopat.yaml", "critics:\n  rights:\n    categories:\n      slur: {weight: 0.5}\n");
  EXPECT_NE(emptyCategory.find("nopat.yaml:4"), std::string::npos) << emptyCategory;
  EXPECT_NE(emptyCategory.find("neither regex nor keywords"), std::string::npos) << emptyCategory;

  const std::string noWeight = loadError(
      "noweight.yaml", "critics:\n  rights:\n    categories:\n      slur: {keywords: [x]}\n");
  EXPECT_NE(noWeight.find("noweight.yaml:4"), std::string::npos) << noWeight;
  EXPECT_NE(noWeight.find("missing 'weight'"), std::string::npos) << noWeight;

  const std::string badKeyword =
      loadError("kw.yaml",
                "critics:\n  rights:\n    categories:\n      slur:\n        weight: 0.5\n"
                "        keywords:\n          - ' padded'\n");
  EXPECT_NE(badKeyword.find("kw.yaml:7"), std::string::npos) << badKeyword;
  EXPECT_NE(badKeyword.find("keywords[0]"), std::string::npos) << badKeyword;
}

TEST(CriticRules, SyntaxErrorsAndMissingFiles) {
  const std::string syntax = loadError("syntax.yaml", "critics:\n  rights: [unclosed\n");
  EXPECT_NE(syntax.find("syntax.yaml:"), std::string::npos) << syntax;
  EXPECT_NE(syntax.find("YAML syntax error"), std::string::npos) << syntax;

  try {
    loadCriticRules("/nonexistent/critics.yaml");
    ADD_FAILURE() << "a missing file must throw";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/critics.yaml"), std::string::npos);
  }
}

TEST(CriticRules, KeywordExpressionEscapesAndBoundsWords) {
  EXPECT_EQ(keywordExpression("awful"), "\\bawful\\b");
  EXPECT_EQ(keywordExpression("don't go"), "\\bdon\\x27t\\x20go\\b");
  EXPECT_EQ(keywordExpression("$5"), "\\x245\\b");
  EXPECT_EQ(keywordExpression("a.*b"), "\\ba\\x2e\\x2ab\\b");
  EXPECT_EQ(keywordExpression("self-harm!"), "\\bself\\x2dharm\\x21");
}

}  // namespace
}  // namespace eleanor
