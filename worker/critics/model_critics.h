// ModelCritics: a TorchScript head per critic (critics.models), case embedding in (B × D),
// one severity per case out (B or B × 1), clamped to [0, 3] and combined with the rule critic
// of the same name: max(rule, model), or (1 - weight) * rule + weight * model. Each head runs
// where gpu.model_assignments places "<name>_critic" (else the rank's device).
#pragma once

#include <cstdint>
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

  // A case a head could not score: it returned NaN or infinity for the case's embedding.
  struct Failure {
    int64_t row = 0;  // the case's row of the embeddings
    std::string reason;
  };

  bool empty() const;
  // Combines the heads' severities for `embeddings` (row b = case b) into `scores`, whose
  // columns are `ruleNames`. Returns the cases a head returned a non-finite severity for, by
  // row, one each (the first head that failed): their scores are left partly combined, and the
  // caller takes them out of the round (the job sends them to errors.jsonl).
  std::vector<Failure> apply(const Matrix& embeddings, CriticScores& scores) const;

 private:
  struct Head;
  std::vector<std::unique_ptr<Head>> heads_;
};

}  // namespace eleanor
