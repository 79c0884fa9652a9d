#include "worker/job_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/config_file.h"
#include "common/error.h"
#include "common/text_hash.h"
#include "common/yaml_reader.h"

namespace eleanor {
namespace {

void readJob(YamlReader& r, JobConfig::Job& job, bool requireJob) {
  r.readOneOrList("input", job.input);
  r.read("precedents", job.precedents);
  r.read("output", job.output);
  r.read("batch_size", job.batchSize);
  r.read("top_k", job.topK);
  r.read("max_line_bytes", job.maxLineBytes);
  r.read("duplicate_ids", job.duplicateIds);
  r.read("max_errors", job.maxErrors);
  r.read("checkpoint_interval_s", job.checkpointIntervalS);
  r.read("check_memory", job.checkMemory);
  if (job.duplicateIds != "keep_first" && job.duplicateIds != "error" &&
      job.duplicateIds != "allow")
    r.fail("duplicate_ids", fmt::format("'{}' is not a mode: use keep_first (later repeats go to "
                                        "errors.jsonl), error (stop the job) or allow (no check)",
                                        job.duplicateIds));
  if (job.maxErrors < -1) r.fail("max_errors", "must be -1 (no limit) or >= 0");
  if (job.checkpointIntervalS < 0)
    r.fail("checkpoint_interval_s", "must be >= 0 (0 = every round)");
  if (job.batchSize < 1) r.fail("batch_size", "must be at least 1");
  if (job.topK < 1) r.fail("top_k", "must be at least 1");
  if (job.maxLineBytes < 16) r.fail("max_line_bytes", "must be at least 16");
  if (requireJob) {
    if (job.input.empty()) r.fail("input", "is required: the cases JSONL file(s)");
    if (job.precedents.empty()) r.fail("precedents", "is required: the precedent corpus folder");
    if (job.output.empty()) r.fail("output", "is required: the folder for results");
  }
  r.finish();
}

void readEmbedder(YamlReader& r, JobConfig::Embedder& e) {
  r.read("type", e.type);
  r.read("dim", e.dim);
  r.read("fields", e.fields);
  r.read("seed", e.seed);
  r.read("bigrams", e.bigrams);
  auto cache = r.child("cache");
  cache.read("max_cached_embeddings", e.maxCachedEmbeddings);
  if (e.maxCachedEmbeddings < 0) cache.fail("max_cached_embeddings", "must be >= 0 (0 = off)");
  cache.finish();
  r.read("model", e.model);
  r.read("vocab", e.vocab);
  r.read("output", e.output);
  r.read("pooling", e.pooling);
  r.read("max_seq_len", e.maxSeqLen);
  r.read("lower_case", e.lowerCase);
  r.read("batch_size", e.batchSize);
  if (e.type != "hashing" && e.type != "torchscript")
    r.fail("type", fmt::format("'{}' is not an embedder: use hashing (built in) or torchscript "
                               "(a model exported by scripts/export-model.py)",
                               e.type));
  if (e.output != "token" && e.output != "sentence")
    r.fail("output", fmt::format("'{}' is not a model output: use token (B x L x D, pooled "
                                 "here) or sentence (B x D)",
                                 e.output));
  if (e.pooling != "mean" && e.pooling != "cls")
    r.fail("pooling", fmt::format("'{}' is not a pooling: use mean or cls", e.pooling));
  if (e.maxSeqLen < 2 || e.maxSeqLen > 8192)
    r.fail("max_seq_len", fmt::format("{} is outside 2..8192", e.maxSeqLen));
  if (e.batchSize < 1) r.fail("batch_size", "must be at least 1");
  if (e.type == "torchscript") {
    if (e.model.empty())
      r.fail("model",
             "is required for type torchscript: the TorchScript file "
             "(scripts/export-model.py writes one)");
    if (e.vocab.empty())
      r.fail("vocab", "is required for type torchscript: the model's BERT vocab.txt");
  }
  if (e.dim < 1 || e.dim > 65536) r.fail("dim", fmt::format("{} is outside 1..65536", e.dim));
  if (e.fields.empty()) r.fail("fields", "needs at least one of: text, output");
  for (const auto& f : e.fields) {
    if (f != "text" && f != "output")
      r.fail("fields", fmt::format("'{}' is not a case field: use text and/or output", f));
  }
  r.finish();
}

void readAggregate(YamlReader& r, AggregatorConfig& a) {
  r.read("violation_threshold", a.violationThreshold);
  r.read("deny_threshold", a.denyThreshold);
  r.read("escalate_uncertainty", a.escalateUncertainty);
  r.read("escalate_severity", a.escalateSeverity);
  r.read("constrained_severity", a.constrainedSeverity);
  r.read("max_support_reduction", a.maxSupportReduction);
  r.read("max_contradiction_increase", a.maxContradictionIncrease);
  r.read("max_uncertainty_increase", a.maxUncertaintyIncrease);
  r.read("novelty_threshold", a.noveltyThreshold);
  r.read("model_uncertainty", a.modelUncertainty);
  r.read("novelty_uncertainty", a.noveltyUncertainty);
  r.read("deny_on_any_critic", a.denyOnAnyCritic);
  r.finish();
}

std::string resolveIn(const ConfigSource& source, const std::string& key,
                      const std::string& value) {
  return source.overridden->count(key) ? value : resolvePath(source.directory, value);
}

void readModelCritics(YamlReader& critics, const ConfigSource& source,
                      std::vector<JobConfig::ModelCritic>& out) {
  auto models = critics.child("models");
  for (const std::string& name : models.keys()) {
    auto m = models.child(name);
    JobConfig::ModelCritic critic;
    critic.name = name;
    m.read("model", critic.model);
    m.read("combine", critic.combine);
    m.read("weight", critic.weight);
    if (critic.model.empty()) m.fail("model", "is required: the critic head's TorchScript file");
    if (critic.combine != "max" && critic.combine != "weighted")
      m.fail("combine",
             fmt::format("'{}' is not a combination: use max or weighted", critic.combine));
    if (!(critic.weight >= 0.0 && critic.weight <= 1.0))
      m.fail("weight", fmt::format("{} is outside 0..1", critic.weight));
    m.finish();
    critic.model = resolveIn(source, "critics.models." + name + ".model", critic.model);
    out.push_back(std::move(critic));
  }
  models.finish();
}

}  // namespace

JobConfig loadJobConfig(const std::string& path, const std::vector<std::string>& sets,
                        bool requireJob) {
  const ConfigSource source = loadConfigSource(path, sets);
  JobConfig config;
  config.file = path;

  YamlReader root(source.root, path, "", source.overridden);
  std::string gpuConfigFile;
  root.read("gpu_config", gpuConfigFile);
  auto job = root.child("job");
  readJob(job, config.job, requireJob);
  for (auto& entry : config.job.input) entry = resolveIn(source, "job.input", entry);
  config.job.precedents = resolveIn(source, "job.precedents", config.job.precedents);
  config.job.output = resolveIn(source, "job.output", config.job.output);

  auto embedder = root.child("embedder");
  readEmbedder(embedder, config.embedder);
  if (!config.embedder.model.empty())
    config.embedder.model = resolveIn(source, "embedder.model", config.embedder.model);
  if (!config.embedder.vocab.empty())
    config.embedder.vocab = resolveIn(source, "embedder.vocab", config.embedder.vocab);

  auto critics = root.child("critics");
  critics.read("rules", config.critics.rules);
  if (config.critics.rules.empty())
    critics.fail("rules", "is required: the critic rules file (e.g. critics.yaml)");
  config.critics.rules = resolveIn(source, "critics.rules", config.critics.rules);
  readModelCritics(critics, source, config.critics.models);
  critics.finish();

  auto search = root.child("search");
  search.read("memory_budget_mb", config.search.memoryBudgetMb);
  search.read("threads", config.search.threads);
  search.read("kernel", config.search.kernel);
  if (config.search.kernel != "auto" && config.search.kernel != "fused" &&
      config.search.kernel != "matmul")
    search.fail("kernel", fmt::format("'{}' is not a search kernel: use auto, fused (running "
                                      "top-k, no score matrix) or matmul (tiled mm + topk)",
                                      config.search.kernel));
  search.read("cpu_dtype", config.search.cpuDtype);
  if (config.search.cpuDtype != "auto" && config.search.cpuDtype != "float32" &&
      config.search.cpuDtype != "bfloat16")
    search.fail("cpu_dtype", fmt::format("'{}' is not a CPU search dtype: use auto (bfloat16 "
                                         "where the CPU has AMX or AVX512-BF16), float32 or "
                                         "bfloat16",
                                         config.search.cpuDtype));
  if (config.search.memoryBudgetMb < 1) search.fail("memory_budget_mb", "must be at least 1");
  if (config.search.threads < 0) search.fail("threads", "must be >= 0 (0 = automatic)");
  search.finish();

  auto comm = root.child("comm");
  comm.read("backend", config.comm.backend);
  comm.read("timeout_s", config.comm.timeoutS);
  static const std::set<std::string> backends{"auto", "mpi", "nccl"};
  if (!backends.count(config.comm.backend))
    comm.fail("backend",
              fmt::format("'{}' is not a backend: use auto, mpi or nccl", config.comm.backend));
  if (config.comm.timeoutS <= 0) comm.fail("timeout_s", "must be > 0 seconds");
  comm.finish();

  auto logging = root.child("logging");
  logging.read("level", config.logging.level);
  logging.read("progress_interval_s", config.logging.progressIntervalS);
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.count(config.logging.level))
    logging.fail("level", fmt::format("'{}' is not a level: use trace, debug, info, warn, error "
                                      "or off",
                                      config.logging.level));
  logging.finish();

  auto aggregate = root.child("aggregate");
  readAggregate(aggregate, config.aggregate);

  // The GPU section lives in the file gpu_config names (or inline under `gpu:`).
  const bool gpuInline = source.gpuFile.empty();
  YamlReader gpuRoot(gpuInline ? source.root : source.gpuRoot, gpuInline ? path : source.gpuFile,
                     "", source.overridden);
  auto gpu = gpuInline ? root.child("gpu") : gpuRoot.child("gpu");
  config.gpu = readGpuConfig(gpu);
  // What gpu.model_assignments may place: the model embedder and each model critic.
  std::vector<std::string> placeable;
  if (config.embedder.type == "torchscript") placeable.push_back("embedder");
  for (const auto& m : config.critics.models) placeable.push_back(m.name + "_critic");
  for (const auto& [component, index] : config.gpu.modelAssignments) {
    if (std::find(placeable.begin(), placeable.end(), component) == placeable.end())
      gpu.fail("model_assignments." + component,
               placeable.empty()
                   ? fmt::format("'{}' is not a model of this job: it has none (the hashing "
                                 "embedder and rule critics run on the CPU)",
                                 component)
                   : fmt::format("'{}' is not a model of this job: use one of {}", component,
                                 fmt::join(placeable, ", ")));
  }
  if (!source.overridden->count("gpu.monitoring.profile_dir")) {
    const std::string gpuDirectory =
        gpuInline ? source.directory : std::filesystem::path(source.gpuFile).parent_path().string();
    config.gpu.monitoring.profileDir =
        resolvePath(gpuDirectory.empty() ? "." : gpuDirectory, config.gpu.monitoring.profileDir);
  }
  if (!gpuInline) gpuRoot.finish();
  root.finish();

  config.effective = YAML::Clone(root.effective());
  config.effective["gpu"] = YAML::Clone(gpu.effective());
  // Show paths as the job will open them.
  if (config.job.input.size() > 1)
    config.effective["job"]["input"] = config.job.input;
  else
    config.effective["job"]["input"] = config.job.input.empty() ? "" : config.job.input.front();
  config.effective["job"]["precedents"] = config.job.precedents;
  config.effective["job"]["output"] = config.job.output;
  config.effective["critics"]["rules"] = config.critics.rules;
  if (!config.embedder.model.empty()) config.effective["embedder"]["model"] = config.embedder.model;
  if (!config.embedder.vocab.empty()) config.effective["embedder"]["vocab"] = config.embedder.vocab;
  for (const auto& m : config.critics.models)
    config.effective["critics"]["models"][m.name]["model"] = m.model;
  if (!source.gpuFile.empty()) config.effective["gpu_config"] = source.gpuFile;
  config.hash = hash64Hex(effectiveConfigText(config));
  return config;
}

std::string effectiveConfigText(const JobConfig& config) {
  YAML::Emitter out;
  out << config.effective;
  return out.c_str();
}

}  // namespace eleanor
