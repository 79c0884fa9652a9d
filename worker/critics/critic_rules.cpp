#include "worker/critics/critic_rules.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hs/hs.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/yaml_reader.h"

namespace eleanor {

const std::vector<std::string>& knownCriticNames() {
  static const std::vector<std::string> names = {"rights", "autonomy", "fairness",
                                                 "truth",  "risk",     "operations"};
  return names;
}

// Caseless because ELEANOR matches ignoring case; single-match because a category counts
// once per field however often it occurs. No HS_FLAG_UTF8: its behaviour on invalid UTF-8 is
// undefined and case texts are not guaranteed valid, so patterns work on bytes (ASCII case
// folding, ASCII \w and \b), which is safe for any input.
unsigned rulePatternFlags() {
  return HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
}

namespace {

bool isWordByte(unsigned char c) {
  return std::isalnum(c) || c == '_';
}

}  // namespace

// Escaping every non-alphanumeric byte as \xHH makes any phrase literal, whatever PCRE
// metacharacters or non-ASCII bytes it holds.
std::string keywordExpression(const std::string& keyword) {
  std::string expression;
  if (!keyword.empty() && isWordByte(keyword.front())) expression += "\\b";
  for (const unsigned char c : keyword) {
    if (std::isalnum(c)) {
      expression += static_cast<char>(c);
    } else {
      expression += fmt::format("\\x{:02x}", c);
    }
  }
  if (!keyword.empty() && isWordByte(keyword.back())) expression += "\\b";
  return expression;
}

namespace {

struct HsInfoDeleter {
  void operator()(hs_expr_info_t* info) const { std::free(info); }
};
struct HsCompileErrorDeleter {
  void operator()(hs_compile_error_t* error) const { hs_free_compile_error(error); }
};

// The 1-based line of `node` in its file, or 0 when it has none (a node looked up under a key
// that is not there, e.g. a category named `null`, has no mark and must not be asked for one).
int lineOf(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  return node.Mark().is_null() ? 0 : node.Mark().line + 1;
}

class RulesParser {
 public:
  RulesParser(YAML::Node root, std::string file) : root_(std::move(root)), file_(std::move(file)) {}

  CriticRules parse() {
    CriticRules rules;
    rules.file = file_;
    YamlReader reader(root_, file_);
    reader.read("text_weight", rules.textWeight);
    reader.read("output_weight", rules.outputWeight);
    double keywordFactor = 0.85;
    reader.read("keyword_factor", keywordFactor);
    checkRange(reader, "text_weight", rules.textWeight, 0.0, 1.0, false);
    checkRange(reader, "output_weight", rules.outputWeight, 0.0, 1.0, false);
    checkRange(reader, "keyword_factor", keywordFactor, 0.0, 1.0, true);

    YamlReader critics = reader.child("critics");
    reader.finish();
    const std::vector<std::string> names = critics.keys();
    if (names.empty()) {
      throw UserError(fmt::format(
          "{}: key 'critics': no critics defined; add at least one of {} with its categories",
          fileAndLine(root_["critics"].IsDefined() ? root_["critics"] : root_), knownList()));
    }
    std::set<std::string> seen;
    for (const auto& name : names) {
      const auto& known = knownCriticNames();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        failAtKey(root_["critics"], "critics." + name, name,
                  fmt::format("unknown critic; the known critics are {} (to add one, "
                              "extend knownCriticNames() in "
                              "worker/critics/critic_rules.cpp and the aggregator's "
                              "priority order)",
                              knownList()));
      }
      if (!seen.insert(name).second) critics.fail(name, "critic defined twice; merge the two");
      rules.critics.push_back(parseCritic(critics, name, keywordFactor));
    }
    critics.finish();
    // Column order is ELEANOR's priority order, whatever the order in the file.
    const auto& known = knownCriticNames();
    std::sort(rules.critics.begin(), rules.critics.end(), [&](const auto& a, const auto& b) {
      return std::find(known.begin(), known.end(), a.name) <
             std::find(known.begin(), known.end(), b.name);
    });
    return rules;
  }

 private:
  RuleCriticSet parseCritic(YamlReader& critics, const std::string& name, double keywordFactor) {
    const YAML::Node node = root_["critics"][name];
    RuleCriticSet critic;
    critic.name = name;
    critic.line = lineOf(node);
    critic.keywordFactor = keywordFactor;
    YamlReader reader = critics.child(name);
    reader.read("keyword_factor", critic.keywordFactor);
    reader.read("max_severity", critic.maxSeverity);
    checkRange(reader, "keyword_factor", critic.keywordFactor, 0.0, 1.0, true);
    checkRange(reader, "max_severity", critic.maxSeverity, 0.0, 3.0, true);
    YamlReader categories = reader.child("categories");
    reader.finish();
    const std::vector<std::string> categoryNames = categories.keys();
    if (categoryNames.empty()) {
      reader.fail("categories", fmt::format("critic '{}' has no categories; give it at least one "
                                            "category with a weight and regex or keywords, or "
                                            "remove the critic",
                                            name));
    }
    std::set<std::string> seen;
    for (const auto& categoryName : categoryNames) {
      if (!seen.insert(categoryName).second)
        categories.fail(categoryName, "category defined twice; merge the two");
      critic.categories.push_back(
          parseCategory(categories, node["categories"][categoryName], critic, categoryName));
    }
    categories.finish();
    return critic;
  }

  RuleCategory parseCategory(YamlReader& categories, const YAML::Node& node,
                             const RuleCriticSet& critic, const std::string& name) {
    RuleCategory category;
    category.name = name;
    category.line = lineOf(node);
    YamlReader reader = categories.child(name);
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) {
          return std::isalnum(c) || c == '_' || c == '-' || c == '.';
        })) {
      failAtKey(root_["critics"][critic.name]["categories"], reader.path(), name,
                "a category name may use only letters, digits, '_', '-' and '.' (it becomes a "
                "flag in results.jsonl)");
    }
    const bool hasWeight = reader.has("weight");
    reader.read("weight", category.weight);
    reader.read("floor", category.floor);
    reader.read("description", category.description);
    std::vector<std::string> regex;
    std::vector<std::string> keywords;
    reader.read("regex", regex);
    reader.read("keywords", keywords);
    reader.finish();  // before the checks below, so a misspelt key is reported as such
    if (!hasWeight) categories.fail(name, "missing 'weight'; give the category a weight in (0, 1]");
    checkRange(reader, "weight", category.weight, 0.0, 1.0, true);
    if (!(category.floor >= 0.0 && category.floor <= critic.maxSeverity)) {
      reader.fail("floor", fmt::format("must be in [0, {}] (the critic's max_severity), got {}",
                                       critic.maxSeverity, category.floor));
    }
    if (regex.empty() && keywords.empty()) {
      categories.fail(name,
                      "the category has neither regex nor keywords; add some patterns or "
                      "remove the category");
    }
    const std::string path = reader.path();
    for (size_t i = 0; i < regex.size(); ++i) {
      RulePattern pattern{regex[i], lineOf(node["regex"][i])};
      checkRegex(pattern, fmt::format("{}.regex[{}]", path, i), critic.name, name);
      category.regex.push_back(std::move(pattern));
    }
    for (size_t i = 0; i < keywords.size(); ++i) {
      RulePattern keyword{keywords[i], lineOf(node["keywords"][i])};
      checkKeyword(keyword, fmt::format("{}.keywords[{}]", path, i));
      category.keywords.push_back(std::move(keyword));
    }
    return category;
  }

  void checkRegex(const RulePattern& pattern, const std::string& keyPath, const std::string& critic,
                  const std::string& category) const {
    const auto fail = [&](const std::string& problem) {
      throw UserError(fmt::format("{}:{}: key '{}': critic '{}', category '{}', regex '{}': {}",
                                  file_, pattern.line, keyPath, critic, category, pattern.text,
                                  problem));
    };
    if (std::any_of(pattern.text.begin(), pattern.text.end(),
                    [](unsigned char c) { return c >= 0x80; })) {
      // Patterns are compiled for bytes (see rulePatternFlags), where a class or quantifier
      // over a multi-byte character would silently mean something else.
      fail(
          "regexes must be ASCII; put non-ASCII phrases under keywords, or write the bytes "
          "as \\xHH");
    }
    hs_expr_info_t* rawInfo = nullptr;
    hs_compile_error_t* rawError = nullptr;
    const hs_error_t status =
        hs_expression_info(pattern.text.c_str(), rulePatternFlags(), &rawInfo, &rawError);
    std::unique_ptr<hs_expr_info_t, HsInfoDeleter> info(rawInfo);
    std::unique_ptr<hs_compile_error_t, HsCompileErrorDeleter> error(rawError);
    if (status != HS_SUCCESS) {
      fail(
          fmt::format("Hyperscan rejects it: {}. Fix the pattern (Hyperscan has no "
                      "backreferences or lookaround) or use keywords",
                      error && error->message ? error->message : "unknown error"));
    }
    if (info && info->min_width == 0) {
      fail(
          "it can match the empty string, so it would match every text; require at least "
          "one character");
    }
  }

  void checkKeyword(const RulePattern& keyword, const std::string& keyPath) const {
    const std::string& text = keyword.text;
    const bool blank =
        std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); });
    if (blank || std::isspace(static_cast<unsigned char>(text.front())) ||
        std::isspace(static_cast<unsigned char>(text.back()))) {
      throw UserError(
          fmt::format("{}:{}: key '{}': keyword '{}' is empty or starts or ends with "
                      "a space; write the phrase without surrounding spaces",
                      file_, keyword.line, keyPath, text));
    }
  }

  static void checkRange(const YamlReader& reader, const std::string& key, double value, double low,
                         double high, bool lowOpen) {
    const bool ok = (lowOpen ? value > low : value >= low) && value <= high;
    if (!ok) {
      reader.fail(
          key, fmt::format("must be in {}{}, {}], got {}", lowOpen ? "(" : "[", low, high, value));
    }
  }

  // Like YamlReader::fail, but at the line of the key itself: for a name that is wrong, the
  // line of its value (often the next one) would point the user at the wrong place.
  [[noreturn]] void failAtKey(const YAML::Node& map, const std::string& keyPath,
                              const std::string& key, const std::string& problem) const {
    YAML::Node keyNode = map;
    for (const auto& entry : map) {
      if (entry.first.as<std::string>() == key) {
        keyNode = entry.first;
        break;
      }
    }
    throw UserError(fmt::format("{}: key '{}': {}", fileAndLine(keyNode), keyPath, problem));
  }

  std::string fileAndLine(const YAML::Node& node) const {
    const int line = lineOf(node);
    return line > 0 ? fmt::format("{}:{}", file_, line) : file_;
  }

  static std::string knownList() { return fmt::format("{}", fmt::join(knownCriticNames(), ", ")); }

  YAML::Node root_;
  std::string file_;
};

}  // namespace

CriticRules parseCriticRules(const std::string& yamlText, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yamlText);
  } catch (const YAML::ParserException& e) {
    throw UserError(fmt::format("{}:{}: YAML syntax error: {}", file, e.mark.line + 1, e.msg));
  }
  refuseDuplicateKeys(root, file);
  return RulesParser(root, file).parse();
}

CriticRules loadCriticRules(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw UserError(
        fmt::format("cannot read the critics rules file '{}': {}; check the path (the "
                    "shipped rules are config/critics.yaml)",
                    path, std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseCriticRules(text.str(), path);
}

}  // namespace eleanor
