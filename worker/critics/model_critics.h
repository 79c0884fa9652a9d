// ModelCritics: a TorchScript head per critic (critics.models), case embedding in (B × D),
// one severity per case out (B or B × 1), clamped to [0, 3] and combined with the rule critic
// of the same name: max(rule, model), or (1 - weight) * rule + weight * model. Each head runs
// where gpu.model_assignments places "<name>_critic" (else the rank's device).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/matrix.h"
#include "worker/critics/critic.h"
#include "worker/device_plan.h"
#include "worker/job_config.h"

namespace eleanor {

class ModelCritics {
 public:
  // Loads every head of config.critics.models and runs a probe embedding through it. Throws
  // UserError naming critics.models.<name> for a name that is not one of `ruleNames`, a file
  // that cannot be loaded, or an output of another shape.
  ModelCritics(const JobConfig& config, const DevicePlan& plan,
               const std::vector<std::string>& ruleNames, int64_t dim);
  ~ModelCritics();

  bool empty() const;
  // Combines the heads' severities for `embeddings` (row b = case b) into `scores`, whose
  // columns are `ruleNames`. Throws UserError when a head returns a non-finite severity.
  void apply(const Matrix& embeddings, CriticScores& scores) const;

 private:
  struct Head;
  std::vector<std::unique_ptr<Head>> heads_;
};

}  // namespace eleanor
