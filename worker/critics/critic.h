// Critic: severities in [0, 3] and matched flags for a batch of cases.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "worker/cases/case.h"

namespace eleanor {

// Row-major B × C: entry b * numCritics + c is case b, critic c (column order of names()).
struct CriticScores {
  int numCritics = 0;
  std::vector<double> severity;                 // each in [0, 3]
  std::vector<std::vector<std::string>> flags;  // matched categories, sorted, unique
  size_t numCases() const { return numCritics ? severity.size() / numCritics : 0; }
};

// A source of severities for one or more named critics. Implementations are read-only after
// construction; evaluate() may be called from any thread.
class Critic {
 public:
  virtual ~Critic() = default;
  // The critics this evaluator scores, in its output's column order.
  virtual const std::vector<std::string>& names() const = 0;
  virtual CriticScores evaluate(std::span<const Case> cases) const = 0;
};

}  // namespace eleanor
