// Aggregator: ELEANOR V8's constitutional decision for one case, as a pure function of the
// critic severities and the merged top-k precedents. No I/O, no global state: safe to call
// from any thread.
//
// The logic re-implements, in C++, these V8 modules (github.com/eleanor-project/V8):
//   [AGG] engine/aggregator/aggregator.py      AggregatorV8: lexicographic rule, precedent and
//                                              uncertainty weighting, score, decision
//   [ALN] engine/precedent/alignment.py        PrecedentAlignmentEngineV8: alignment, conflict,
//                                              drift, novelty
//   [UNC] engine/uncertainty/uncertainty.py    UncertaintyEngineV8: divergence, composite
//   [SET] engine/config/settings.py            PrecedentConfig.similarity_threshold = 0.7
// Formulas below say which module each comes from, or "ours" where V8 has nothing or where we
// deliberately differ. Severity scale: 0 none, 1 minor, 2 moderate, 3 severe (V8 [AGG]).
//
// Per case, with C critics in priority order, raw severities s[c] and the matched precedents
// (those with similarity >= novelty_threshold) p = 1..M, similarity w_p, decision d_p:
//
//  1. novel = (M == 0). Ours: V8 [SET] declares 0.7 the "minimum similarity score for precedent
//     matching" but its alignment engine only calls a case novel when retrieval returns nothing;
//     we apply the threshold, so weakly similar top-k neighbours do not count as precedent.
//     novelty_threshold = -1 reproduces [ALN] exactly (every retrieved precedent is used).
//  2. dir(d): allow +1, constrained_allow +0.5, escalate 0, deny -1.                     [ALN]
//     alignment a = clamp(sum_p w_p dir(d_p) / W, -1, 1), W = sum_p w_p, or 1 when W == 0;
//     a = 0 when novel. +1: similar cases were allowed (support); -1: they were denied.  [ALN]
//  3. conflict = clamp(pvariance_p(dir(d_p) w_p), 0, 1); 0 when M <= 1.                 [ALN]
//  4. drift = clamp(|mean_c s[c] - mean_p mean(sev_p)| / 3, 0, 1) over matched precedents that
//     carry severities; 0 when none does.  [ALN], except: V8 counts a precedent without a
//     severity map as mean 0; we leave it out, because "unknown" is not "harmless".
//  5. divergence = clamp(pvariance_c(s[c]) / 2, 0, 1); 0 when C <= 1.                    [UNC]
//  6. epistemic = clamp(0.6 divergence + 0.4 drift); aleatoric = clamp(conflict), or
//     novelty_uncertainty when novel (ours; 0 by default, which is V8);
//     u = clamp(0.5 epistemic + 0.4 aleatoric + 0.1 model_uncertainty, 0, 1).            [UNC]
//     V8 takes model_uncertainty from the model's name (0.05..0.2); the runner does not know
//     the model, so it is a config value defaulting to V8's value for an unknown model, 0.2.
//  7. precedent weighting: s1[c] = clamp(s[c] (1 + max_contradiction_increase |a|), 0, 3)
//     when a < 0, else clamp(s[c] (1 - max_support_reduction a), 0, 3).                   [AGG]
//  8. uncertainty weighting: s2[c] = clamp(s1[c] (1 + max_uncertainty_increase u), 0, 3). [AGG]
//  9. total = sum_c s2[c] (critic order); average = total / C.                            [AGG]
// 10. lexicographic: the highest violation is the first critic, in priority order, whose RAW
//     severity s[c] >= violation_threshold. Precedent and uncertainty never move it.     [AGG]
// 11. decision, first rule that holds:                                                   [AGG]
//       deny              highest violation exists and its s >= deny_threshold
//       escalate          u >= escalate_uncertainty and average >= escalate_severity
//       constrained_allow average >= constrained_severity
//       allow             otherwise
//     V8's rule 1 looks only at the highest violation: with rights 2.2 (a violation below the
//     deny threshold) a lower critic at 3.0 does not deny; the higher-priority finding governs.
//     deny_on_any_critic = true (ours) instead denies when any critic reaches deny_threshold.
// 12. deciding critic (ours; V8 reports only the highest violation): for deny, the critic that
//     denied; for escalate / constrained_allow, the first critic in priority order whose s2
//     reaches the average threshold that fired (one does, as max >= mean; should rounding lift
//     the mean of near-equal values above all of them, the first largest); allow: none.
//
// Determinism: plain double arithmetic in a fixed order (critics in priority order, precedents
// in merge order), no unordered containers, no fast-math (a build with it fails to compile),
// no FMA contraction (switched off for the .cpp): bit-identical results for identical inputs.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eleanor {

enum class Decision { kAllow, kConstrainedAllow, kEscalate, kDeny };

// "allow" | "constrained_allow" | "escalate" | "deny".
std::string_view decisionName(Decision decision);
// Inverse of decisionName (exact, lower case). Throws UserError naming the value and listing the
// valid names.
Decision parseDecision(std::string_view name);
// V8's directional value of a precedent's decision [ALN]: +1, +0.5, 0, -1.
double decisionDirection(Decision decision);

// YAML section `aggregate:`; each key is the field name in snake_case. Defaults are V8's.
struct AggregatorConfig {
  // Raw severity at which a critic's finding is a constitutional violation [AGG]; [0, 3].
  double violationThreshold = 2.0;
  // Raw severity of the highest violation that denies [AGG]; in [violation_threshold, 3].
  double denyThreshold = 2.5;
  // Uncertainty at which a case with average >= escalate_severity escalates [AGG]; [0, 1].
  double escalateUncertainty = 0.6;
  // Average adjusted severity for escalate [AGG]; in [constrained_severity, 3].
  double escalateSeverity = 1.0;
  // Average adjusted severity for constrained_allow [AGG]; in [0, escalate_severity].
  double constrainedSeverity = 1.0;
  // Severity reduction at full precedent support, a = +1 [AGG]; in [0, 1].
  double maxSupportReduction = 0.3;
  // Severity increase at full contradiction, a = -1 [AGG] (V8: x(1+|a|)); >= 0.
  double maxContradictionIncrease = 1.0;
  // Severity increase at uncertainty 1 [AGG]; >= 0.
  double maxUncertaintyIncrease = 0.5;
  // Minimum similarity for a top-k neighbour to count as precedent [SET]; in [-1, 1].
  double noveltyThreshold = 0.7;
  // Model-stability term of the uncertainty [UNC] (V8's value for an unknown model); [0, 1].
  double modelUncertainty = 0.2;
  // Aleatoric uncertainty of a case with no matched precedent (ours; 0 = V8); in [0, 1].
  double noveltyUncertainty = 0.0;
  // Deny when any critic, not only the highest violation, reaches deny_threshold (ours).
  bool denyOnAnyCritic = false;
};

// One merged top-k neighbour of a case. Plain data; copy freely.
struct PrecedentSignal {
  double similarity = 0.0;  // cosine in [-1, 1]; rounding just outside is clamped, NaN rejected
  Decision decision = Decision::kAllow;
  // The values of the precedent's meta `severity` map, each in [0, 3], in configured-critic order
  // for the critics it names; empty when the meta has none. Only their mean is used (drift).
  std::vector<double> severities;
};

// Views over the caller's data, valid for the duration of aggregate().
struct CaseSignals {
  std::span<const double> severities;           // C raw severities in [0, 3], priority order
  std::span<const PrecedentSignal> precedents;  // merged top-k, in merge order (any count)
};

struct AggregateResult {
  Decision decision = Decision::kAllow;  // decisionName(decision) for the string
  std::vector<double> severities;        // C adjusted severities s2, in [0, 3]
  double averageSeverity = 0.0;
  double totalSeverity = 0.0;
  double alignment = 0.0;    // [-1, 1]; 0 when novel
  double uncertainty = 0.0;  // u in [0, 1]
  bool novel = true;         // no precedent with similarity >= novelty_threshold
  int matchedPrecedents = 0;
  int decidingCritic = -1;    // index into criticNames(); -1 for allow
  int highestViolation = -1;  // V8's highest-priority violation; -1 when none
  double criticDivergence = 0.0;
  double precedentConflict = 0.0;
  double drift = 0.0;
};

class Aggregator {
 public:
  // `criticNames`: the configured critics in priority order (non-empty, unique, non-empty
  // names). Throws UserError naming the offending `aggregate.<key>` for an invalid config.
  Aggregator(AggregatorConfig config, std::vector<std::string> criticNames);

  // Pure: same signals, same bits. Throws InternalError (a caller bug) when the number of
  // severities is not C or a critic severity is outside [0, 3] or a similarity is NaN;
  // UserError when a matched precedent's meta severity is outside [0, 3].
  AggregateResult aggregate(const CaseSignals& signals) const;

  const AggregatorConfig& config() const { return config_; }
  const std::vector<std::string>& criticNames() const { return criticNames_; }

 private:
  AggregatorConfig config_;
  std::vector<std::string> criticNames_;
};

}  // namespace eleanor
