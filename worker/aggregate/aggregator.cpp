#include "worker/aggregate/aggregator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "common/error.h"

// Bit-identical results across machines need IEEE double arithmetic exactly as written: no
// reassociation (fast-math) and no fused multiply-add, which would round differently on CPUs
// that have it. GCC contracts across statements unless told not to, whatever -std says.
#ifdef __FAST_MATH__
#error "worker/aggregate/aggregator.cpp must not be built with -ffast-math (determinism)"
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace eleanor {

namespace {

constexpr double kMaxSeverity = 3.0;  // top of V8's 0..3 scale [AGG]

// [UNC] constants, fixed as in V8.
constexpr double kDivergenceVarianceScale = 2.0;  // "max meaningful var ~ 2"
constexpr double kDivergenceWeight = 0.6;         // epistemic = 0.6 divergence + 0.4 drift
constexpr double kDriftWeight = 0.4;
constexpr double kEpistemicWeight = 0.5;  // overall = 0.5 epi + 0.4 alea + 0.1 model
constexpr double kAleatoricWeight = 0.4;
constexpr double kModelWeight = 0.1;

constexpr std::array<std::pair<Decision, std::string_view>, 4> kDecisionNames = {{
    {Decision::kAllow, "allow"},
    {Decision::kConstrainedAllow, "constrained_allow"},
    {Decision::kEscalate, "escalate"},
    {Decision::kDeny, "deny"},
}};

double clampTo(double value, double lo, double hi) {
  return std::min(std::max(value, lo), hi);
}

double meanOf(std::span<const double> values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// Population variance, two-pass, in the given order.
double populationVariance(std::span<const double> values) {
  const double mean = meanOf(values);
  double sum = 0.0;
  for (double v : values) {
    const double d = v - mean;
    sum += d * d;
  }
  return sum / static_cast<double>(values.size());
}

// Throws unless lo <= value <= hi and value is finite (NaN fails every comparison).
void requireRange(double value, const char* key, double lo, double hi, const char* meaning) {
  if (!(value >= lo && value <= hi && std::isfinite(value))) {
    const std::string range =
        std::isinf(hi) ? fmt::format(">= {} and finite", lo) : fmt::format("in [{}, {}]", lo, hi);
    throw UserError(fmt::format("aggregate.{} = {} is out of range: it must be {} ({})", key, value,
                                range, meaning));
  }
}

void requireOrder(double lower, const char* lowerKey, double upper, const char* upperKey) {
  if (!(lower <= upper)) {
    throw UserError(fmt::format(
        "aggregate.{} = {} must not exceed aggregate.{} = {}: the thresholds must be ordered "
        "(V8 defaults: violation_threshold 2.0 <= deny_threshold 2.5; constrained_severity 1.0 "
        "<= escalate_severity 1.0)",
        lowerKey, lower, upperKey, upper));
  }
}

void validate(const AggregatorConfig& c) {
  const double unbounded = std::numeric_limits<double>::infinity();
  // Ranges first, so an ordering message never reports a NaN or an off-scale value.
  requireRange(c.violationThreshold, "violation_threshold", 0.0, kMaxSeverity,
               "a raw severity on the 0..3 scale; V8: 2.0");
  requireRange(c.denyThreshold, "deny_threshold", 0.0, kMaxSeverity,
               "a raw severity on the 0..3 scale; V8: 2.5");
  requireRange(c.escalateUncertainty, "escalate_uncertainty", 0.0, 1.0, "an uncertainty; V8: 0.6");
  requireRange(c.escalateSeverity, "escalate_severity", 0.0, kMaxSeverity,
               "an average severity on the 0..3 scale; V8: 1.0");
  requireRange(c.constrainedSeverity, "constrained_severity", 0.0, kMaxSeverity,
               "an average severity on the 0..3 scale; V8: 1.0");
  requireRange(c.maxSupportReduction, "max_support_reduction", 0.0, 1.0,
               "a fraction of the severity; V8: 0.3");
  requireRange(c.maxContradictionIncrease, "max_contradiction_increase", 0.0, unbounded,
               "a fraction of the severity; V8: 1.0");
  requireRange(c.maxUncertaintyIncrease, "max_uncertainty_increase", 0.0, unbounded,
               "a fraction of the severity; V8: 0.5");
  requireRange(c.noveltyThreshold, "novelty_threshold", -1.0, 1.0,
               "a cosine similarity; V8: 0.7, and -1 uses every retrieved precedent");
  requireRange(c.modelUncertainty, "model_uncertainty", 0.0, 1.0,
               "an uncertainty; V8: 0.2 for an unknown model");
  requireRange(c.noveltyUncertainty, "novelty_uncertainty", 0.0, 1.0, "an uncertainty; V8: 0.0");
  requireOrder(c.violationThreshold, "violation_threshold", c.denyThreshold, "deny_threshold");
  requireOrder(c.constrainedSeverity, "constrained_severity", c.escalateSeverity,
               "escalate_severity");
}

// First critic, in priority order, at or above `threshold`; -1 when none.
int firstAtOrAbove(std::span<const double> severities, double threshold) {
  for (size_t c = 0; c < severities.size(); ++c) {
    if (severities[c] >= threshold) return static_cast<int>(c);
  }
  return -1;
}

// The critic behind an average-driven decision: the first to reach the threshold on its own.
// max >= mean, so one does, except when rounding lifts the mean of near-equal values a hair
// above all of them; then the first of the largest.
int averageDecider(std::span<const double> severities, double threshold) {
  const int first = firstAtOrAbove(severities, threshold);
  if (first >= 0) return first;
  return static_cast<int>(std::max_element(severities.begin(), severities.end()) -
                          severities.begin());
}

}  // namespace

std::string_view decisionName(Decision decision) {
  for (const auto& [value, name] : kDecisionNames) {
    if (value == decision) return name;
  }
  ELEANOR_ASSERT(false, fmt::format("unknown Decision {}", static_cast<int>(decision)));
  return {};
}

Decision parseDecision(std::string_view name) {
  for (const auto& [value, known] : kDecisionNames) {
    if (known == name) return value;
  }
  throw UserError(fmt::format(
      "unknown decision '{}': use one of allow, constrained_allow, escalate, deny", name));
}

double decisionDirection(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return 1.0;
    case Decision::kConstrainedAllow:
      return 0.5;
    case Decision::kEscalate:
      return 0.0;
    case Decision::kDeny:
      return -1.0;
  }
  ELEANOR_ASSERT(false, fmt::format("unknown Decision {}", static_cast<int>(decision)));
  return 0.0;
}

Aggregator::Aggregator(AggregatorConfig config, std::vector<std::string> criticNames)
    : config_(config), criticNames_(std::move(criticNames)) {
  validate(config_);
  if (criticNames_.empty()) {
    throw UserError("the aggregator needs at least one critic; list them under `critics:`");
  }
  std::set<std::string> seen;
  for (const auto& name : criticNames_) {
    if (name.empty()) throw UserError("a critic has an empty name; give every critic a name");
    if (!seen.insert(name).second) {
      throw UserError(
          fmt::format("critic '{}' is listed twice; each critic may appear once, "
                      "in priority order",
                      name));
    }
  }
}

AggregateResult Aggregator::aggregate(const CaseSignals& signals) const {
  const AggregatorConfig& cfg = config_;
  const std::span<const double> raw = signals.severities;
  const size_t numCritics = criticNames_.size();
  ELEANOR_ASSERT(raw.size() == numCritics,
                 fmt::format("{} severities for {} critics", raw.size(), numCritics));
  for (size_t c = 0; c < numCritics; ++c) {
    ELEANOR_ASSERT(raw[c] >= 0.0 && raw[c] <= kMaxSeverity,
                   fmt::format("critic '{}' severity {} outside [0, 3]", criticNames_[c], raw[c]));
  }

  AggregateResult result;

  // Steps 1-4: precedent alignment, conflict and drift over the matched precedents.
  double weighted = 0.0;
  double totalSimilarity = 0.0;
  std::vector<double> directed;  // dir(d_p) * w_p, for the conflict variance
  double precedentMeanSum = 0.0;
  int withSeverities = 0;
  for (size_t p = 0; p < signals.precedents.size(); ++p) {
    const PrecedentSignal& precedent = signals.precedents[p];
    ELEANOR_ASSERT(!std::isnan(precedent.similarity),
                   fmt::format("precedent #{} of the top-k has a NaN similarity", p));
    // Cosines computed in reduced precision can land a hair outside [-1, 1].
    const double w = clampTo(precedent.similarity, -1.0, 1.0);
    if (!(w >= cfg.noveltyThreshold)) continue;
    const double dir = decisionDirection(precedent.decision);
    weighted += w * dir;
    totalSimilarity += w;
    directed.push_back(dir * w);
    if (!precedent.severities.empty()) {
      for (double s : precedent.severities) {
        if (!(s >= 0.0 && s <= kMaxSeverity)) {
          throw UserError(fmt::format(
              "precedent #{} of the top-k has a meta severity of {}, outside [0, 3]; fix the "
              "`severity` values in the corpus meta.jsonl",
              p, s));
        }
      }
      precedentMeanSum += meanOf(precedent.severities);
      ++withSeverities;
    }
  }
  result.matchedPrecedents = static_cast<int>(directed.size());
  result.novel = directed.empty();
  if (!result.novel) {
    const double denominator = totalSimilarity == 0.0 ? 1.0 : totalSimilarity;
    result.alignment = clampTo(weighted / denominator, -1.0, 1.0);
    result.precedentConflict =
        directed.size() <= 1 ? 0.0 : clampTo(populationVariance(directed), 0.0, 1.0);
    if (withSeverities > 0) {
      const double precedentMean = precedentMeanSum / static_cast<double>(withSeverities);
      result.drift = clampTo(std::fabs(meanOf(raw) - precedentMean) / kMaxSeverity, 0.0, 1.0);
    }
  }

  // Steps 5-6: uncertainty.
  result.criticDivergence =
      numCritics <= 1 ? 0.0 : clampTo(populationVariance(raw) / kDivergenceVarianceScale, 0.0, 1.0);
  const double epistemic =
      clampTo(kDivergenceWeight * result.criticDivergence + kDriftWeight * result.drift, 0.0, 1.0);
  const double aleatoric =
      result.novel ? cfg.noveltyUncertainty : clampTo(result.precedentConflict, 0.0, 1.0);
  result.uncertainty = clampTo(kEpistemicWeight * epistemic + kAleatoricWeight * aleatoric +
                                   kModelWeight * cfg.modelUncertainty,
                               0.0, 1.0);

  // Steps 7-9: precedent then uncertainty weighting of each critic, then the score.
  const double a = result.alignment;
  const double precedentFactor = a < 0.0 ? 1.0 + cfg.maxContradictionIncrease * std::fabs(a)
                                         : 1.0 - cfg.maxSupportReduction * a;
  const double uncertaintyFactor = 1.0 + cfg.maxUncertaintyIncrease * result.uncertainty;
  result.severities.resize(numCritics);
  double total = 0.0;
  for (size_t c = 0; c < numCritics; ++c) {
    const double s1 = clampTo(raw[c] * precedentFactor, 0.0, kMaxSeverity);
    const double s2 = clampTo(s1 * uncertaintyFactor, 0.0, kMaxSeverity);
    result.severities[c] = s2;
    total += s2;
  }
  result.totalSeverity = total;
  result.averageSeverity = total / static_cast<double>(numCritics);

  // Steps 10-12: lexicographic rule on the raw severities, then the average thresholds.
  result.highestViolation = firstAtOrAbove(raw, cfg.violationThreshold);
  int denier = -1;
  if (cfg.denyOnAnyCritic) {
    denier = firstAtOrAbove(raw, cfg.denyThreshold);
  } else if (result.highestViolation >= 0 && raw[result.highestViolation] >= cfg.denyThreshold) {
    denier = result.highestViolation;
  }
  if (denier >= 0) {
    result.decision = Decision::kDeny;
    result.decidingCritic = denier;
  } else if (result.uncertainty >= cfg.escalateUncertainty &&
             result.averageSeverity >= cfg.escalateSeverity) {
    result.decision = Decision::kEscalate;
    result.decidingCritic = averageDecider(result.severities, cfg.escalateSeverity);
  } else if (result.averageSeverity >= cfg.constrainedSeverity) {
    result.decision = Decision::kConstrainedAllow;
    result.decidingCritic = averageDecider(result.severities, cfg.constrainedSeverity);
  } else {
    result.decision = Decision::kAllow;
  }
  return result;
}

}  // namespace eleanor
