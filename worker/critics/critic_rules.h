// CriticRules: the `rules` critics as read from config/critics.yaml, every key checked.
//
// The file names some of ELEANOR's six critics (rights, autonomy, fairness, truth, risk,
// operations); each critic has named categories with a weight, regex patterns and keyword
// phrases. How the matches become a severity is documented in rule_critics.h and in the
// shipped config/critics.yaml.
#pragma once

#include <string>
#include <vector>

namespace eleanor {

// One regex or keyword as written in the file, with its 1-based line for error messages.
struct RulePattern {
  std::string text;
  int line = 0;
};

struct RuleCategory {
  std::string name;                   // the flag reported when the category matches
  std::string description;            // for people reading results; not used in scoring
  double weight = 0.0;                // in (0, 1]
  double floor = 0.0;                 // in [0, max_severity]: minimum severity of an output match
  std::vector<RulePattern> regex;     // Hyperscan syntax, matched case-insensitively
  std::vector<RulePattern> keywords;  // literal phrases, matched as whole words, ignoring case
  int line = 0;
};

struct RuleCriticSet {
  std::string name;                      // one of knownCriticNames()
  double keywordFactor = 0.85;           // a keyword-only hit counts weight * keywordFactor
  double maxSeverity = 3.0;              // severity scale and cap for this critic, in (0, 3]
  std::vector<RuleCategory> categories;  // file order; scores are summed in this order
  int line = 0;
};

struct CriticRules {
  std::string file;                    // where the rules came from, for error messages
  double textWeight = 0.3;             // weight of a match in the case's `text` (the prompt)
  double outputWeight = 1.0;           // weight of a match in the case's `output` (the answer)
  std::vector<RuleCriticSet> critics;  // in knownCriticNames() order, each at most once
};

// ELEANOR's critics in lexicographic priority order. To add a critic, append its name here
// and give it a place in the aggregator's priority order.
const std::vector<std::string>& knownCriticNames();

// Reads and validates a rules file. Throws UserError naming the file, line and dotted key for
// a YAML syntax error, an unknown key, a wrong type, a value out of range, an unknown or
// empty critic, an empty category, or a pattern Hyperscan cannot compile (with its message).
CriticRules loadCriticRules(const std::string& path);

// Same, from YAML text; `file` names the source in error messages.
CriticRules parseCriticRules(const std::string& yamlText, const std::string& file);

// The Hyperscan flags every rule pattern is compiled with; shared with RuleCritics so that
// the load-time check and the real compile agree.
unsigned rulePatternFlags();

// A keyword as a Hyperscan expression: the phrase with every byte that is not a letter or
// digit escaped as \xHH, and \b on each end that is a word character.
std::string keywordExpression(const std::string& keyword);

}  // namespace eleanor
