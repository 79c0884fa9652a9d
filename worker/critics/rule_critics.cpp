#include "worker/critics/rule_critics.h"

#include <fmt/format.h>
#include <hs/hs.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>

#include "common/error.h"

namespace eleanor {

namespace {

struct DatabaseDeleter {
  void operator()(hs_database_t* database) const { hs_free_database(database); }
};
struct ScratchDeleter {
  void operator()(hs_scratch_t* scratch) const { hs_free_scratch(scratch); }
};
struct CompileErrorDeleter {
  void operator()(hs_compile_error_t* error) const { hs_free_compile_error(error); }
};
using DatabasePtr = std::unique_ptr<hs_database_t, DatabaseDeleter>;
using ScratchPtr = std::unique_ptr<hs_scratch_t, ScratchDeleter>;

void checkHs(hs_error_t status, const char* call, const char* file, int line) {
  if (status != HS_SUCCESS) {
    throwLibraryError("Hyperscan", call, fmt::format("hs_error_t {}", status), file, line);
  }
}

enum Field { kText = 0, kOutput = 1, kNumFields = 2 };

// What a match of one Hyperscan expression id means.
struct PatternRef {
  int category = 0;  // global category index (all critics, in order)
  bool isRegex = false;
  int critic = 0;
  const RulePattern* source = nullptr;
};

// Hit strength of a category in one field; a regex hit outranks a keyword hit.
enum Hit : uint8_t { kNoHit = 0, kKeywordHit = 1, kRegexHit = 2 };

struct ScanContext {
  const std::vector<PatternRef>* refs;
  std::vector<uint8_t>* hits;
};

int onMatch(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
            unsigned int /*flags*/, void* context) {
  auto* scan = static_cast<ScanContext*>(context);
  const PatternRef& ref = (*scan->refs)[id];
  uint8_t& hit = (*scan->hits)[ref.category];
  hit = std::max<uint8_t>(hit, ref.isRegex ? kRegexHit : kKeywordHit);
  return 0;  // keep scanning: other categories may still match
}

}  // namespace

struct RuleCritics::Impl {
  // The per-field terms of one category, multiplied out once so evaluation only adds.
  struct CategoryTerms {
    double regexTerm[kNumFields] = {0, 0};
    double keywordTerm[kNumFields] = {0, 0};
    double floorTerm[kNumFields] = {0, 0};
    const std::string* name = nullptr;
  };

  CriticRules rules;
  std::vector<std::string> names;
  std::vector<PatternRef> refs;
  std::vector<CategoryTerms> categories;
  std::vector<size_t> firstCategory;  // per critic, plus one past the end
  DatabasePtr database;
  ScratchPtr prototype;
  mutable std::mutex poolMutex;
  mutable std::vector<ScratchPtr> pool;

  // Lends a scratch to one evaluate() call and puts it back in the pool afterwards; a pool
  // rather than thread_local so that several RuleCritics (several databases) can coexist.
  class ScratchLease {
   public:
    explicit ScratchLease(const Impl& impl) : impl_(impl) {
      {
        std::lock_guard<std::mutex> lock(impl_.poolMutex);
        if (!impl_.pool.empty()) {
          scratch_ = std::move(impl_.pool.back());
          impl_.pool.pop_back();
        }
      }
      if (!scratch_) {
        hs_scratch_t* clone = nullptr;
        checkHs(hs_clone_scratch(impl_.prototype.get(), &clone), "hs_clone_scratch", __FILE__,
                __LINE__);
        scratch_.reset(clone);
      }
    }
    ~ScratchLease() {
      std::lock_guard<std::mutex> lock(impl_.poolMutex);
      impl_.pool.push_back(std::move(scratch_));
    }
    ScratchLease(const ScratchLease&) = delete;
    ScratchLease& operator=(const ScratchLease&) = delete;
    hs_scratch_t* get() const { return scratch_.get(); }

   private:
    const Impl& impl_;
    ScratchPtr scratch_;
  };

  void compile();
  void scan(const std::string& data, hs_scratch_t* scratch, std::vector<uint8_t>& hits,
            const Case& where, const char* field) const;
};

void RuleCritics::Impl::compile() {
  std::vector<std::string> expressions;
  for (size_t c = 0; c < rules.critics.size(); ++c) {
    const RuleCriticSet& critic = rules.critics[c];
    names.push_back(critic.name);
    firstCategory.push_back(categories.size());
    for (const RuleCategory& category : critic.categories) {
      const int index = static_cast<int>(categories.size());
      CategoryTerms terms;
      terms.name = &category.name;
      const double fieldWeight[kNumFields] = {rules.textWeight, rules.outputWeight};
      for (int f = 0; f < kNumFields; ++f) {
        terms.regexTerm[f] = fieldWeight[f] * category.weight;
        terms.keywordTerm[f] = fieldWeight[f] * (category.weight * critic.keywordFactor);
        terms.floorTerm[f] = fieldWeight[f] * category.floor;
      }
      categories.push_back(terms);
      for (const RulePattern& regex : category.regex) {
        refs.push_back({index, true, static_cast<int>(c), &regex});
        expressions.push_back(regex.text);
      }
      for (const RulePattern& keyword : category.keywords) {
        refs.push_back({index, false, static_cast<int>(c), &keyword});
        expressions.push_back(keywordExpression(keyword.text));
      }
    }
  }
  firstCategory.push_back(categories.size());
  if (expressions.empty()) return;  // nothing to match: every severity is 0

  std::vector<const char*> patterns;
  std::vector<unsigned> flags(expressions.size(), rulePatternFlags());
  std::vector<unsigned> ids;
  for (size_t i = 0; i < expressions.size(); ++i) {
    patterns.push_back(expressions[i].c_str());
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_database_t* rawDatabase = nullptr;
  hs_compile_error_t* rawError = nullptr;
  const hs_error_t status = hs_compile_multi(patterns.data(), flags.data(), ids.data(),
                                             static_cast<unsigned>(patterns.size()), HS_MODE_BLOCK,
                                             nullptr, &rawDatabase, &rawError);
  database.reset(rawDatabase);
  std::unique_ptr<hs_compile_error_t, CompileErrorDeleter> error(rawError);
  if (status != HS_SUCCESS) {
    const std::string message = error && error->message ? error->message : "unknown error";
    if (error && error->expression >= 0 && static_cast<size_t>(error->expression) < refs.size()) {
      const PatternRef& ref = refs[static_cast<size_t>(error->expression)];
      const RuleCriticSet& critic = rules.critics[static_cast<size_t>(ref.critic)];
      throw UserError(fmt::format(
          "{}:{}: critic '{}', category '{}', {} '{}': Hyperscan rejects it: {}. Fix the "
          "pattern (Hyperscan has no backreferences or lookaround)",
          rules.file, ref.source->line, critic.name, *categories[ref.category].name,
          ref.isRegex ? "regex" : "keyword", ref.source->text, message));
    }
    throwLibraryError("Hyperscan", "hs_compile_multi", message, __FILE__, __LINE__);
  }
  hs_scratch_t* rawScratch = nullptr;
  checkHs(hs_alloc_scratch(database.get(), &rawScratch), "hs_alloc_scratch", __FILE__, __LINE__);
  prototype.reset(rawScratch);
}

void RuleCritics::Impl::scan(const std::string& data, hs_scratch_t* scratch,
                             std::vector<uint8_t>& hits, const Case& where,
                             const char* field) const {
  std::fill(hits.begin(), hits.end(), kNoHit);
  if (data.empty() || !database) return;
  if (data.size() > UINT_MAX) {
    throw UserError(
        fmt::format("line {}: case '{}': field '{}' is {} bytes, more than the 4 GiB "
                    "a rule scan can take; split the case",
                    where.line, where.id, field, data.size()));
  }
  ScanContext context{&refs, &hits};
  checkHs(hs_scan(database.get(), data.data(), static_cast<unsigned>(data.size()), 0, scratch,
                  onMatch, &context),
          "hs_scan", __FILE__, __LINE__);
}

RuleCritics::RuleCritics(CriticRules rules) : impl_(std::make_unique<Impl>()) {
  impl_->rules = std::move(rules);
  impl_->compile();
}

RuleCritics::~RuleCritics() = default;

const std::vector<std::string>& RuleCritics::names() const {
  return impl_->names;
}

const CriticRules& RuleCritics::rules() const {
  return impl_->rules;
}

size_t RuleCritics::numPatterns() const {
  return impl_->refs.size();
}

CriticScores RuleCritics::evaluate(std::span<const Case> cases) const {
  const Impl& impl = *impl_;
  const size_t numCritics = impl.names.size();
  CriticScores scores;
  scores.numCritics = static_cast<int>(numCritics);
  scores.severity.assign(cases.size() * numCritics, 0.0);
  scores.flags.assign(cases.size() * numCritics, {});
  if (numCritics == 0 || cases.empty() || !impl.database) return scores;

  Impl::ScratchLease scratch(impl);
  std::vector<uint8_t> hits[kNumFields] = {std::vector<uint8_t>(impl.categories.size()),
                                           std::vector<uint8_t>(impl.categories.size())};
  for (size_t b = 0; b < cases.size(); ++b) {
    const Case& item = cases[b];
    impl.scan(item.text, scratch.get(), hits[kText], item, "text");
    impl.scan(item.output, scratch.get(), hits[kOutput], item, "output");
    for (size_t c = 0; c < numCritics; ++c) {
      double score = 0.0;
      double floor = 0.0;
      std::vector<std::string>& flags = scores.flags[b * numCritics + c];
      for (size_t k = impl.firstCategory[c]; k < impl.firstCategory[c + 1]; ++k) {
        const Impl::CategoryTerms& terms = impl.categories[k];
        bool matched = false;
        for (int f = 0; f < kNumFields; ++f) {
          const uint8_t hit = hits[f][k];
          if (hit == kNoHit) continue;
          matched = true;
          score += hit == kRegexHit ? terms.regexTerm[f] : terms.keywordTerm[f];
          floor = std::max(floor, terms.floorTerm[f]);
        }
        if (matched) flags.push_back(*terms.name);
      }
      const double maxSeverity = impl.rules.critics[c].maxSeverity;
      scores.severity[b * numCritics + c] =
          std::min(maxSeverity, std::max(maxSeverity * std::min(1.0, score), floor));
      // Category names are unique within a critic, so sorting is all "sorted, unique" needs.
      std::sort(flags.begin(), flags.end());
    }
  }
  return scores;
}

}  // namespace eleanor
