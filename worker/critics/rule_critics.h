// RuleCritics: ELEANOR's pattern critics (rights, autonomy, fairness, truth, risk,
// operations) over one Hyperscan database holding every pattern of every critic.
//
// Severity of critic c for one case, after ELEANOR V8's critics (engine/critics/*.py):
//   hit(k, f)  = weight_k                  if a regex of category k matches field f
//              = weight_k * keywordFactor  else if a keyword of k matches f, else 0
//   score      = sum over categories k in file order of
//                  textWeight * hit(k, text) + outputWeight * hit(k, output)
//   severity   = min(max, max(max * min(1, score),
//                             largest fieldWeight(f) * floor_k over the matches (k, f)))
// with max = the critic's max_severity (3 by default). A category counts at most once per
// field. Flags are the names of the categories that matched in either field, sorted.
//
// Deterministic: the per-match terms are products fixed at construction and are only added
// at evaluation, in category order, so the same input gives bit-identical doubles on any
// machine (no reassociation, nothing for the compiler to fuse into an FMA).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "worker/critics/critic.h"
#include "worker/critics/critic_rules.h"

namespace eleanor {

class RuleCritics : public Critic {
 public:
  // Compiles every pattern into one database. Throws UserError naming the file, line,
  // critic, category and pattern if Hyperscan rejects a pattern.
  explicit RuleCritics(CriticRules rules);
  ~RuleCritics() override;
  RuleCritics(const RuleCritics&) = delete;
  RuleCritics& operator=(const RuleCritics&) = delete;

  // The configured critics in ELEANOR's priority order.
  const std::vector<std::string>& names() const override;

  // Thread-safe: each call borrows its own Hyperscan scratch from a pool.
  CriticScores evaluate(std::span<const Case> cases) const override;

  const CriticRules& rules() const;
  size_t numPatterns() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eleanor
