#include "worker/critics/model_critics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/blas_core.h"
#include "common/error.h"

namespace eleanor {
namespace {

// A case's severity must not depend on the other cases of its round (results at any W), and
// BLAS picks kernels by shape and treats rows by position (OpenBLAS's gemv and Haswell gemm
// compute tail rows differently). So heads run on blocks of a fixed number of rows, the last
// one padded with zero rows: one row per call on the CPU, kGpuHeadRows on a GPU (cuBLAS
// predicates block edges).
constexpr int64_t kGpuHeadRows = 64;

}  // namespace

struct ModelCritics::Head {
  JobConfig::ModelCritic config;
  int column = 0;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;
  mutable torch::jit::Module module;

  int64_t rowsPerCall() const { return device.is_cpu() ? 1 : kGpuHeadRows; }

  // Severities of `rows` embeddings (rows × dim, float32 on the host), before clamping.
  at::Tensor run(const at::Tensor& embeddings) const {
    c10::InferenceMode inference;
    at::Tensor out = module.forward({embeddings.to(device, dtype)}).toTensor();
    if (out.dim() == 2 && out.size(1) == 1) out = out.squeeze(1);
    if (out.dim() != 1 || out.size(0) != embeddings.size(0)) {
      std::vector<int64_t> sizes(out.sizes().begin(), out.sizes().end());
      throw UserError(fmt::format(
          "critics.models.{}: {} returned shape [{}] for {} embeddings: a critic head returns "
          "one severity per case ({} or {} x 1)",
          config.name, config.model, fmt::join(sizes, " x "), embeddings.size(0),
          embeddings.size(0), embeddings.size(0)));
    }
    return out.to(at::kCPU, at::kDouble).contiguous();
  }
};

ModelCritics::ModelCritics(const JobConfig& config, const DevicePlan& plan,
                           const std::vector<std::string>& ruleNames, int64_t dim) {
  for (const auto& critic : config.critics.models) {
    const auto named = std::find(ruleNames.begin(), ruleNames.end(), critic.name);
    if (named == ruleNames.end())
      throw UserError(fmt::format(
          "critics.models.{}: there is no rule critic '{}' to combine it with: use one of {}",
          critic.name, critic.name, fmt::join(ruleNames, ", ")));
    if (!std::filesystem::is_regular_file(critic.model))
      throw UserError(
          fmt::format("critics.models.{}.model {}: no such file", critic.name, critic.model));
    auto head = std::make_unique<Head>();
    head->config = critic;
    head->column = static_cast<int>(named - ruleNames.begin());
    const ModelPlacement where = placeModel(config, plan, critic.name + "_critic");
    if (where.cudaDevice >= 0) {
      head->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(where.cudaDevice));
      if (where.dtype == "bfloat16") head->dtype = at::kBFloat16;
      if (where.dtype == "float16") head->dtype = at::kHalf;
    }
    try {
      head->module = torch::jit::load(critic.model, head->device);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      throw UserError(
          fmt::format("critics.models.{}.model {}: not a TorchScript module LibTorch "
                      "can load ({})",
                      critic.name, critic.model, what.substr(0, what.find('\n'))));
    }
    head->module.eval();
    if (head->dtype != at::kFloat) head->module.to(head->dtype);
    try {
      head->run(at::zeros({head->rowsPerCall(), dim}, at::kFloat));
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& e) {
      const std::string what = e.what();
      throw UserError(fmt::format(
          "critics.models.{}.model {}: forward(embeddings) failed on a probe of {} x {} ({}): a "
          "critic head takes the case embeddings, batch x embedder.dim float32",
          critic.name, critic.model, head->rowsPerCall(), dim, what.substr(0, what.find('\n'))));
    }
    heads_.push_back(std::move(head));
  }
}

ModelCritics::~ModelCritics() = default;

bool ModelCritics::empty() const {
  return heads_.empty();
}

std::vector<ModelCritics::Failure> ModelCritics::apply(const Matrix& embeddings,
                                                       CriticScores& scores) const {
  std::vector<Failure> failures;
  if (heads_.empty() || embeddings.rows == 0) return failures;
  std::vector<bool> failed(static_cast<size_t>(embeddings.rows), false);
  for (const auto& head : heads_) {
    const int64_t block = head->rowsPerCall();
    const int64_t blocks = (embeddings.rows + block - 1) / block;
    at::Tensor input = at::zeros({blocks * block, embeddings.cols}, at::kFloat);
    std::copy(embeddings.values.begin(), embeddings.values.end(), input.data_ptr<float>());
    std::vector<at::Tensor> parts(static_cast<size_t>(blocks));
    const auto runBlocks = [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b)
        parts[static_cast<size_t>(b)] = head->run(input.slice(0, b * block, (b + 1) * block));
    };
    // On the CPU the one-case calls run side by side on the intra-op threads (OpenBLAS on the
    // calling thread).
    if (head->device.is_cpu()) {
      const BlasOnCallingThread blasInline;
      at::parallel_for(0, blocks, 1, runBlocks);
    } else {
      runBlocks(0, blocks);
    }
    const at::Tensor out = at::cat(parts);
    const double* severity = out.data_ptr<double>();
    for (int64_t b = 0; b < embeddings.rows; ++b) {
      if (failed[static_cast<size_t>(b)]) continue;
      if (!std::isfinite(severity[b])) {
        failed[static_cast<size_t>(b)] = true;
        failures.push_back({b, fmt::format("critics.models.{} ({}) returned {} for this case: a "
                                           "head must return finite severities",
                                           head->config.name, head->config.model, severity[b])});
        continue;
      }
      const double model = std::clamp(severity[b], 0.0, 3.0);
      double& combined = scores.severity[static_cast<size_t>(b * scores.numCritics + head->column)];
      combined = head->config.combine == "max"
                     ? std::max(combined, model)
                     : (1.0 - head->config.weight) * combined + head->config.weight * model;
    }
  }
  std::sort(failures.begin(), failures.end(),
            [](const Failure& a, const Failure& b) { return a.row < b.row; });
  return failures;
}

}  // namespace eleanor
