// libFuzzer target: YAML text as a critics rules file. parseCriticRules on it; when it loads
// with at most kMaxPatternsToCompile patterns, RuleCritics compiles it into a Hyperscan
// database and scores a few cases, including one whose text and output are the input itself.
// Contract (critic_rules.h, rule_critics.h): only UserError escapes the loader and the compile
// (a rules file that loads must compile, or fail with a UserError naming the pattern);
// severities lie in [0, max_severity]; flags are sorted and unique.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/fuzz/fuzz_support.h"
#include "worker/critics/critic_rules.h"
#include "worker/critics/rule_critics.h"

namespace {

// Hyperscan takes seconds to compile a set the size of the shipped rules (262 patterns: some
// 15 s per input here), which would stall the fuzzer; larger sets are only parsed and checked
// (the unit tests compile the shipped set).
constexpr size_t kMaxPatternsToCompile = 32;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using eleanor::fuzz::violated;
  const std::string text(reinterpret_cast<const char*>(data), size);
  eleanor::CriticRules rules;
  try {
    rules = eleanor::parseCriticRules(text, "fuzz-critics.yaml");
  } catch (const eleanor::UserError&) {
    return 0;
  }
  std::vector<double> maxSeverity;
  size_t numPatterns = 0;
  for (const auto& critic : rules.critics) {
    maxSeverity.push_back(critic.maxSeverity);
    for (const auto& category : critic.categories)
      numPatterns += category.regex.size() + category.keywords.size();
  }
  if (numPatterns > kMaxPatternsToCompile) return 0;

  std::vector<eleanor::Case> cases(3);
  cases[0] = {1, "plain", "What is the capital of France?", "Paris.", ""};
  cases[1] = {2, "input", text, text, ""};
  cases[2] = {3, "empty", "", "", ""};
  try {
    const eleanor::RuleCritics critics(std::move(rules));
    const eleanor::CriticScores scores = critics.evaluate(cases);
    const size_t numCritics = critics.names().size();
    if (numCritics != maxSeverity.size()) violated("critic count changed in compilation");
    if (scores.severity.size() != cases.size() * numCritics) violated("wrong score count");
    for (size_t i = 0; i < scores.severity.size(); ++i) {
      const double severity = scores.severity[i];
      if (!(severity >= 0.0 && severity <= maxSeverity[i % numCritics]))
        violated("severity outside [0, max_severity]", std::to_string(severity));
      const auto& flags = scores.flags[i];
      if (!std::is_sorted(flags.begin(), flags.end()) ||
          std::adjacent_find(flags.begin(), flags.end()) != flags.end())
        violated("flags not sorted and unique");
    }
  } catch (const eleanor::UserError&) {
    // Hyperscan may reject at compile what it accepted alone (e.g. too large together).
  }
  return 0;
}
