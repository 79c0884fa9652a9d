// loadJobConfig: the shipped config loads with the documented defaults; relative paths resolve
// from the file's folder and --set paths stay as given; every validation is a UserError naming
// the key (and the file line or the --set); the seed's `ollama:` section is accepted; the
// hash follows the effective settings.
#include "worker/job_config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"

#ifndef ELEANOR_SOURCE_DIR
#error "ELEANOR_SOURCE_DIR must name the repository root"
#endif

namespace eleanor {
namespace {

namespace fs = std::filesystem;

const std::string kSource = ELEANOR_SOURCE_DIR;
const std::string kShipped = kSource + "/config/eleanor.yaml";

std::string normal(const std::string& path) {
  return fs::path(path).lexically_normal().string();
}

TEST(JobConfigShipped, LoadsWithTheDocumentedDefaults) {
  const JobConfig c = loadJobConfig(kShipped, {});
  EXPECT_EQ(c.file, kShipped);
  EXPECT_EQ(c.job.input, std::vector<std::string>{normal(kSource + "/data/sample/cases.jsonl")});
  EXPECT_EQ(c.job.precedents, normal(kSource + "/build/sample-corpus"));
  EXPECT_EQ(c.job.output, normal(kSource + "/build/demo-output"));
  EXPECT_EQ(c.job.batchSize, 256);
  EXPECT_EQ(c.job.topK, 10);
  EXPECT_EQ(c.job.maxLineBytes, 1 << 20);

  EXPECT_EQ(c.embedder.type, "hashing");
  EXPECT_EQ(c.embedder.dim, 384);
  EXPECT_EQ(c.embedder.fields, (std::vector<std::string>{"text", "output"}));
  EXPECT_EQ(c.embedder.seed, 0);
  EXPECT_TRUE(c.embedder.bigrams);
  EXPECT_EQ(c.embedder.maxCachedEmbeddings, 100000);
  EXPECT_EQ(c.critics.rules, normal(kSource + "/config/critics.yaml"));
  EXPECT_EQ(c.search.memoryBudgetMb, 256);
  EXPECT_EQ(c.search.threads, 0);
  EXPECT_EQ(c.search.kernel, "auto");
  EXPECT_EQ(c.search.cpuDtype, "auto");
  EXPECT_EQ(c.comm.backend, "auto");
  EXPECT_EQ(c.comm.timeoutS, 600.0);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.logging.progressIntervalS, 10.0);

  // The shipped aggregate: section writes out V8's defaults.
  const AggregatorConfig v8;
  EXPECT_EQ(c.aggregate.violationThreshold, v8.violationThreshold);
  EXPECT_EQ(c.aggregate.denyThreshold, v8.denyThreshold);
  EXPECT_EQ(c.aggregate.escalateUncertainty, v8.escalateUncertainty);
  EXPECT_EQ(c.aggregate.escalateSeverity, v8.escalateSeverity);
  EXPECT_EQ(c.aggregate.constrainedSeverity, v8.constrainedSeverity);
  EXPECT_EQ(c.aggregate.maxSupportReduction, v8.maxSupportReduction);
  EXPECT_EQ(c.aggregate.maxContradictionIncrease, v8.maxContradictionIncrease);
  EXPECT_EQ(c.aggregate.maxUncertaintyIncrease, v8.maxUncertaintyIncrease);
  EXPECT_EQ(c.aggregate.noveltyThreshold, v8.noveltyThreshold);
  EXPECT_EQ(c.aggregate.modelUncertainty, v8.modelUncertainty);
  EXPECT_EQ(c.aggregate.noveltyUncertainty, v8.noveltyUncertainty);
  EXPECT_EQ(c.aggregate.denyOnAnyCritic, v8.denyOnAnyCritic);

  // The shipped gpu.yaml writes out the seed's values, which are GpuConfig's defaults, except
  // device_preference, which the file may narrow (mps is only skipped on Linux): compared with
  // the file itself.
  const GpuConfig& g = c.gpu;
  EXPECT_TRUE(g.enabled);
  EXPECT_EQ(g.devicePreference,
            YAML::LoadFile(kSource + "/config/gpu.yaml")["gpu"]["device_preference"]
                .as<std::vector<std::string>>());
  EXPECT_EQ(g.devicePreference.front(), "cuda");
  EXPECT_TRUE(g.multiGpu.deviceIds.empty());
  EXPECT_EQ(g.multiGpu.strategy, "data_parallel");
  EXPECT_TRUE(g.modelAssignments.empty());
  EXPECT_TRUE(g.memory.mixedPrecision);
  EXPECT_EQ(g.memory.dtype, "auto");
  EXPECT_FALSE(g.memory.quantization.enabled);
  EXPECT_EQ(g.memory.quantization.bits, 8);
  EXPECT_FALSE(g.memory.offloadToCpu);
  EXPECT_EQ(g.memory.maxMemoryPerGpu, "");
  EXPECT_EQ(g.memory.maxMemoryPerGpuBytes, 0);
  EXPECT_EQ(g.batch.batchSize, 8);
  EXPECT_EQ(g.batch.maxBatchSize, 32);
  EXPECT_EQ(g.batch.minBatchSize, 1);
  EXPECT_TRUE(g.batch.dynamicBatching);
  EXPECT_EQ(g.async.numStreams, 4);
  EXPECT_TRUE(g.async.prefetch);
  EXPECT_TRUE(g.cuda.benchmark);
  EXPECT_TRUE(g.cuda.allowTf32);
  EXPECT_FALSE(g.monitoring.enableProfiling);
  EXPECT_EQ(g.monitoring.memoryCheckInterval, 60.0);
  // Written as ../logs/gpu_profiles in config/gpu.yaml: resolved from that file's folder.
  EXPECT_EQ(g.monitoring.profileDir, std::string(ELEANOR_SOURCE_DIR) + "/logs/gpu_profiles");
  EXPECT_FALSE(g.ollamaIgnored);

  EXPECT_EQ(c.hash.size(), 16u);
  EXPECT_EQ(c.effective["job"]["top_k"].as<int>(), 10);
  EXPECT_EQ(c.effective["gpu"]["batch"]["max_batch_size"].as<int>(), 32);
  EXPECT_NE(effectiveConfigText(c).find("top_k: 10"), std::string::npos);
}

TEST(JobConfigShipped, SetOverridesReachTheJobAndTheGpuFile) {
  const JobConfig c = loadJobConfig(
      kShipped, {"job.top_k=20", "gpu.memory.max_memory_per_gpu=40GiB", "gpu.memory.dtype=bf16"});
  EXPECT_EQ(c.job.topK, 20);
  EXPECT_EQ(c.gpu.memory.maxMemoryPerGpu, "40GiB");
  EXPECT_EQ(c.gpu.memory.maxMemoryPerGpuBytes, int64_t{40} << 30);
  EXPECT_EQ(c.gpu.memory.dtype, "bfloat16");
}

class JobConfigFile : public ScratchDirTest {
 protected:
  // The smallest valid job config; `extra` is appended (line numbers of kMinimal are fixed).
  std::string minimal(const std::string& extra = "", const std::string& name = "job.yaml") {
    return write(name, std::string(kMinimal) + extra);
  }
  // The UserError message of loading `config` with `sets` ("" when it loads).
  std::string loadError(const std::string& config, const std::vector<std::string>& sets,
                        bool requireJob = true) {
    try {
      loadJobConfig(config, sets, requireJob);
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  }

  static constexpr const char* kMinimal =
      "job:\n"                     // 1
      "  input: in/cases.jsonl\n"  // 2
      "  precedents: corpus\n"     // 3
      "  output: out\n"            // 4
      "critics:\n"                 // 5
      "  rules: critics.yaml\n";   // 6
};

TEST_F(JobConfigFile, RelativePathsResolveFromTheFileAndSetPathsStayAsGiven) {
  const std::string config = write("conf/job.yaml",
                                   "job:\n"
                                   "  input: ../data/c.jsonl\n"
                                   "  precedents: /abs/corpus\n"
                                   "  output: out\n"
                                   "critics:\n"
                                   "  rules: ./rules/critics.yaml\n");
  const JobConfig fromFile = loadJobConfig(config, {});
  EXPECT_EQ(fromFile.job.input, std::vector<std::string>{path("data/c.jsonl")});
  EXPECT_EQ(fromFile.job.precedents, "/abs/corpus");
  EXPECT_EQ(fromFile.job.output, path("conf/out"));
  EXPECT_EQ(fromFile.critics.rules, path("conf/rules/critics.yaml"));

  const JobConfig fromSet =
      loadJobConfig(config, {"job.input=rel/in.jsonl", "job.output=../o", "critics.rules=r.yaml"});
  EXPECT_EQ(fromSet.job.input, std::vector<std::string>{"rel/in.jsonl"});
  EXPECT_EQ(fromSet.job.output, "../o");
  EXPECT_EQ(fromSet.critics.rules, "r.yaml");
  EXPECT_EQ(fromSet.job.precedents, "/abs/corpus");
}

// job.input may be a list (input_files.h): each entry resolves like a single path, and the
// effective settings show a list as a list and one entry as a string.
TEST_F(JobConfigFile, InputIsOnePathOrAList) {
  const std::string config = write("conf/job.yaml",
                                   "job:\n"
                                   "  input: [../a.jsonl, parts/, /abs/c-*.jsonl]\n"
                                   "  precedents: corpus\n"
                                   "  output: out\n"
                                   "critics:\n"
                                   "  rules: critics.yaml\n");
  const JobConfig c = loadJobConfig(config, {});
  EXPECT_EQ(c.job.input,
            (std::vector<std::string>{path("a.jsonl"), path("conf/parts/"), "/abs/c-*.jsonl"}));
  ASSERT_TRUE(c.effective["job"]["input"].IsSequence());
  EXPECT_EQ(c.effective["job"]["input"][1].as<std::string>(), path("conf/parts/"));

  const JobConfig set = loadJobConfig(config, {"job.input=[x.jsonl, y/]"});
  EXPECT_EQ(set.job.input, (std::vector<std::string>{"x.jsonl", "y/"}));
  const JobConfig one = loadJobConfig(config, {"job.input=x.jsonl"});
  EXPECT_EQ(one.job.input, std::vector<std::string>{"x.jsonl"});
  EXPECT_EQ(one.effective["job"]["input"].as<std::string>(), "x.jsonl");
  EXPECT_NE(one.hash, c.hash);

  EXPECT_EQ(loadError(config, {"job.input=[]"}),
            "--set job.input: key 'job.input': is required: the cases JSONL file(s)");
  EXPECT_EQ(loadError(config, {"job.input=[a.jsonl, {b: 1}]"}),
            "--set job.input: key 'job.input[1]': expected a string");
}

TEST_F(JobConfigFile, MinimalConfigTakesEveryDefault) {
  const JobConfig c = loadJobConfig(minimal(), {});
  const JobConfig::Job job;
  EXPECT_EQ(c.job.batchSize, job.batchSize);
  EXPECT_EQ(c.job.topK, job.topK);
  EXPECT_EQ(c.embedder.dim, 384);
  EXPECT_EQ(c.gpu.batch.batchSize, 8);
  EXPECT_EQ(c.effective["job"]["batch_size"].as<int>(), 256);
  EXPECT_EQ(c.effective["gpu"]["memory"]["dtype"].as<std::string>(), "auto");
}

TEST_F(JobConfigFile, TorchScriptEmbedderNeedsModelAndVocabResolvedFromTheFile) {
  const std::string config = minimal("embedder:\n  type: torchscript\n", "ts.yaml");
  EXPECT_EQ(loadError(config, {}),
            config +
                ": key 'embedder.model': is required for type torchscript: the TorchScript "
                "file (scripts/export-model.py writes one)");
  EXPECT_EQ(loadError(config, {"embedder.model=m.pt"}),
            config +
                ": key 'embedder.vocab': is required for type torchscript: the model's BERT "
                "vocab.txt");
  const std::string placed =
      write("placed.yaml",
            "job: {input: in.jsonl, precedents: corpus, output: out}\n"
            "embedder:\n  type: torchscript\n  model: models/m.pt\n  vocab: models/vocab.txt\n"
            "critics:\n  rules: critics.yaml\n"
            "  models:\n    truth: {model: heads/t.pt, combine: weighted, weight: 0.3}\n");
  const JobConfig c =
      loadJobConfig(placed, {"gpu.model_assignments={embedder: 1, truth_critic: 0}"});
  const std::string folder = std::filesystem::path(placed).parent_path().string();
  EXPECT_EQ(c.embedder.model, folder + "/models/m.pt");
  EXPECT_EQ(c.embedder.vocab, folder + "/models/vocab.txt");
  ASSERT_EQ(c.critics.models.size(), 1u);
  EXPECT_EQ(c.critics.models[0].name, "truth");
  EXPECT_EQ(c.critics.models[0].model, folder + "/heads/t.pt");
  EXPECT_EQ(c.critics.models[0].combine, "weighted");
  EXPECT_DOUBLE_EQ(c.critics.models[0].weight, 0.3);
  EXPECT_EQ(c.gpu.modelAssignments.at("embedder"), 1);
  EXPECT_EQ(loadError(placed, {"gpu.model_assignments={rights_critic: 0}"}),
            "--set gpu.model_assignments: key 'gpu.model_assignments.rights_critic': "
            "'rights_critic' is not a model of this job: use one of embedder, truth_critic");
}

TEST_F(JobConfigFile, ARepeatedKeyIsAnErrorNotASilentChoice) {
  // kMinimal has critics: on line 5; a second section on line 7 would otherwise be ignored.
  const std::string config =
      minimal("embedder:\n  dim: 8\ncritics:\n  models: {truth: {model: t.pt}}\n", "dup.yaml");
  EXPECT_EQ(loadError(config, {}),
            config +
                ":9: key 'critics' appears twice (also at line 5): YAML keeps only one of "
                "them; merge the two into one");
  const std::string nested = write("nested.yaml",
                                   "job:\n  input: a\n  top_k: 3\n  top_k: 4\n"
                                   "critics: {rules: critics.yaml}\n");
  EXPECT_EQ(loadError(nested, {}),
            nested +
                ":4: key 'job.top_k' appears twice (also at line 3): YAML keeps only one of "
                "them; merge the two into one");
  EXPECT_EQ(loadError(minimal(), {"critics.models={truth: {model: a.pt}, truth: {model: b.pt}}"}),
            "--set critics.models: key 'critics.models.truth' appears twice: YAML keeps only one "
            "of them; write it once");
}

TEST_F(JobConfigFile, RequiredJobPathsOnlyForRun) {
  const std::string config = write("job.yaml", "critics:\n  rules: critics.yaml\n");
  EXPECT_EQ(loadError(config, {}),
            config + ": key 'job.input': is required: the cases JSONL file(s)");
  EXPECT_EQ(loadError(config, {}, /*requireJob=*/false), "");
  EXPECT_EQ(loadError(config, {"job.input=x"}),
            config + ": key 'job.precedents': is required: the precedent corpus folder");
  EXPECT_EQ(loadError(minimal(), {"critics.rules="}),
            "--set critics.rules: key 'critics.rules': is required: the critic rules file (e.g. "
            "critics.yaml)");
}

struct Invalid {
  std::string set;
  std::string message;  // the whole UserError message
};

TEST_F(JobConfigFile, EveryValidationNamesTheSetKey) {
  const std::vector<Invalid> cases = {
      {"job.batch_size=0", "--set job.batch_size: key 'job.batch_size': must be at least 1"},
      {"job.top_k=0", "--set job.top_k: key 'job.top_k': must be at least 1"},
      {"job.top_k=-3", "--set job.top_k: key 'job.top_k': must be at least 1"},
      {"job.max_line_bytes=15",
       "--set job.max_line_bytes: key 'job.max_line_bytes': must be at least 16"},
      {"embedder.type=bert",
       "--set embedder.type: key 'embedder.type': 'bert' is not an embedder: use hashing (built "
       "in) or torchscript (a model exported by scripts/export-model.py)"},
      {"embedder.pooling=max",
       "--set embedder.pooling: key 'embedder.pooling': 'max' is not a pooling: use mean or cls"},
      {"embedder.output=pooled",
       "--set embedder.output: key 'embedder.output': 'pooled' is not a model output: use token "
       "(B x L x D, pooled here) or sentence (B x D)"},
      {"embedder.max_seq_len=1",
       "--set embedder.max_seq_len: key 'embedder.max_seq_len': 1 is outside 2..8192"},
      {"critics.models={truth: {model: t.pt, combine: min}}",
       "--set critics.models: key 'critics.models.truth.combine': 'min' is not a combination: "
       "use max or weighted"},
      {"critics.models={truth: {model: t.pt, weight: 2}}",
       "--set critics.models: key 'critics.models.truth.weight': 2 is outside 0..1"},
      {"embedder.dim=0", "--set embedder.dim: key 'embedder.dim': 0 is outside 1..65536"},
      {"embedder.dim=65537", "--set embedder.dim: key 'embedder.dim': 65537 is outside 1..65536"},
      {"embedder.fields=[text, title]",
       "--set embedder.fields: key 'embedder.fields': 'title' is not a case field: use text "
       "and/or output"},
      {"embedder.fields=[]",
       "--set embedder.fields: key 'embedder.fields': needs at least one of: text, output"},
      {"embedder.fields=text",
       "--set embedder.fields: key 'embedder.fields': expected a list, e.g. [a, b]"},
      {"embedder.cache.max_cached_embeddings=-1",
       "--set embedder.cache.max_cached_embeddings: key 'embedder.cache.max_cached_embeddings': "
       "must be >= 0 (0 = off)"},
      {"search.memory_budget_mb=0",
       "--set search.memory_budget_mb: key 'search.memory_budget_mb': must be at least 1"},
      {"search.threads=-1",
       "--set search.threads: key 'search.threads': must be >= 0 (0 = automatic)"},
      {"search.kernel=faiss",
       "--set search.kernel: key 'search.kernel': 'faiss' is not a search kernel: use auto, "
       "fused (running top-k, no score matrix) or matmul (tiled mm + topk)"},
      {"search.cpu_dtype=fp16",
       "--set search.cpu_dtype: key 'search.cpu_dtype': 'fp16' is not a CPU search dtype: use "
       "auto (bfloat16 where the CPU has AMX or AVX512-BF16), float32 or bfloat16"},
      {"comm.backend=gloo",
       "--set comm.backend: key 'comm.backend': 'gloo' is not a backend: use auto, mpi or nccl"},
      {"comm.timeout_s=0", "--set comm.timeout_s: key 'comm.timeout_s': must be > 0 seconds"},
      {"logging.level=verbose",
       "--set logging.level: key 'logging.level': 'verbose' is not a level: use trace, debug, "
       "info, warn, error or off"},
      {"gpu.memory.dtype=int4",
       "--set gpu.memory.dtype: key 'gpu.memory.dtype': 'int4' is not a dtype: use auto, "
       "bfloat16, float16 or float32"},
      {"gpu.memory.quantization.bits=4",
       "--set gpu.memory.quantization.bits: key 'gpu.memory.quantization.bits': 4-bit "
       "quantization is not supported: use 8 (int8 precedent shards with a per-row scale)"},
      {"gpu.memory.max_memory_per_gpu=lots",
       "--set gpu.memory.max_memory_per_gpu: key 'gpu.memory.max_memory_per_gpu': 'lots' is not "
       "a size: write e.g. 40GiB, 512MiB or 0"},
      {"gpu.async.num_streams=0",
       "--set gpu.async.num_streams: key 'gpu.async.num_streams': 0 is outside 1..64"},
      {"gpu.monitoring.memory_check_interval=-1",
       "--set gpu.monitoring.memory_check_interval: key 'gpu.monitoring.memory_check_interval': "
       "must be >= 0 seconds (0 turns it off)"},
      {"gpu.multi_gpu.strategy=model_parallel",
       "--set gpu.multi_gpu.strategy: key 'gpu.multi_gpu.strategy': 'model_parallel' is not "
       "supported: the runner is data parallel (one rank per GPU); use data_parallel"},
      {"gpu.multi_gpu.device_ids=[0, 1, 0]",
       "--set gpu.multi_gpu.device_ids: key 'gpu.multi_gpu.device_ids': device 0 is negative or "
       "listed twice"},
      {"gpu.device_preference=[cuda, tpu]",
       "--set gpu.device_preference: key 'gpu.device_preference': 'tpu' is not a device: use "
       "cuda, mps or cpu"},
      {"gpu.model_assignments={embedder: -1}",
       "--set gpu.model_assignments: key 'gpu.model_assignments.embedder': GPU index -1 is "
       "negative"},
      {"gpu.model_assignments={fairness_critic: 1}",
       "--set gpu.model_assignments: key 'gpu.model_assignments.fairness_critic': "
       "'fairness_critic' is not a model of this job: it has none (the hashing embedder and rule "
       "critics run on the CPU)"},
      {"gpu.enabled=maybe",
       "--set gpu.enabled: key 'gpu.enabled': expected true or false, got "
       "'maybe'"},
  };
  // Inline GPU section (no gpu_config) and a gpu_config file: the same messages.
  write("g.yaml", "gpu:\n  enabled: true\n");
  const std::string inlineConfig = minimal();
  const std::string fileConfig = minimal("gpu_config: g.yaml\n", "with-gpu-file.yaml");
  for (const std::string& config : {inlineConfig, fileConfig}) {
    for (const Invalid& c : cases) {
      EXPECT_EQ(loadError(config, {c.set}), c.message) << "config " << config << " --set " << c.set;
    }
    EXPECT_EQ(loadError(config, {}), "") << config << " must load after the failures";
  }
}

TEST_F(JobConfigFile, GpuBatchOrdering) {
  const std::string config = minimal();
  const std::string rule = "need 1 <= min_batch_size";
  for (const std::vector<std::string>& sets : std::vector<std::vector<std::string>>{
           {"gpu.batch.min_batch_size=0"},
           {"gpu.batch.min_batch_size=9"},
           {"gpu.batch.batch_size=33"},
           {"gpu.batch.max_batch_size=4"},
       }) {
    const std::string message = loadError(config, sets);
    EXPECT_NE(message.find("key 'gpu.batch.batch_size': " + rule), std::string::npos)
        << sets[0] << ": " << message;
  }
  EXPECT_EQ(loadError(config, {"gpu.batch.min_batch_size=16"}),
            config +
                ": key 'gpu.batch.batch_size': need 1 <= min_batch_size (16) <= batch_size "
                "(8) <= max_batch_size (32)");
  // Equal bounds are fine.
  const JobConfig c =
      loadJobConfig(config, {"gpu.batch.min_batch_size=8", "gpu.batch.max_batch_size=8"});
  EXPECT_EQ(c.gpu.batch.minBatchSize, 8);
  EXPECT_EQ(c.gpu.batch.maxBatchSize, 8);
}

TEST_F(JobConfigFile, ByteSizes) {
  const std::string config = minimal();
  const std::vector<std::pair<std::string, int64_t>> sizes = {
      {"40GiB", int64_t{40} << 30},
      {"512MiB", int64_t{512} << 20},
      {"1.5GB", 1500000000},
      {"0", 0},
      {"2048", 2048},
      {"10 kb", 10000},
      {"1TiB", int64_t{1} << 40},
      {" 3 KiB ", 3072},
      {"7B", 7},
  };
  for (const auto& [text, bytes] : sizes) {
    const JobConfig c = loadJobConfig(config, {"gpu.memory.max_memory_per_gpu=" + text});
    EXPECT_EQ(c.gpu.memory.maxMemoryPerGpuBytes, bytes) << "'" << text << "'";
  }
  for (const std::string bad : {"lots", "40G", "-1GiB", "1.GiB", "GiB", "4 0GiB"}) {
    EXPECT_NE(loadError(config, {"gpu.memory.max_memory_per_gpu=" + bad}).find("is not a size"),
              std::string::npos)
        << "'" << bad << "'";
  }
}

// A size beyond int64 must be refused, not wrapped into a negative (or arbitrary) byte count.
TEST_F(JobConfigFile, ByteSizeBeyondInt64IsRefused) {
  const std::string config = minimal();
  for (const std::string huge : {"10000000TiB", "99999999999999999999"}) {
    std::string message;
    int64_t bytes = 0;
    try {
      bytes = loadJobConfig(config, {"gpu.memory.max_memory_per_gpu=" + huge})
                  .gpu.memory.maxMemoryPerGpuBytes;
    } catch (const UserError& e) {
      message = e.what();
    }
    EXPECT_NE(message, "") << "'" << huge << "' was accepted as " << bytes << " bytes";
  }
}

TEST_F(JobConfigFile, DtypeAliasesAreCanonical) {
  const std::string config = minimal();
  for (const auto& [alias, canonical] :
       std::vector<std::pair<std::string, std::string>>{{"bf16", "bfloat16"},
                                                        {"fp16", "float16"},
                                                        {"half", "float16"},
                                                        {"float", "float32"},
                                                        {"fp32", "float32"},
                                                        {"auto", "auto"}}) {
    EXPECT_EQ(loadJobConfig(config, {"gpu.memory.dtype=" + alias}).gpu.memory.dtype, canonical)
        << alias;
  }
}

TEST_F(JobConfigFile, UnknownKeysNameTheirFileAndLine) {
  const std::string gpuFile = write("g.yaml",
                                    "gpu:\n"                          // 1
                                    "  memory:\n"                     // 2
                                    "    dtype: auto\n"               // 3
                                    "    max_memroy_per_gpu: 4GiB\n"  // 4
                                    "    offload_to_cpu: false\n");   // 5
  const std::string config = minimal("gpu_config: g.yaml\n");
  EXPECT_EQ(loadError(config, {}),
            gpuFile +
                ":4: unknown key 'gpu.memory.max_memroy_per_gpu' (did you mean "
                "'gpu.memory.max_memory_per_gpu'?)");

  const std::string topLevel = write("g2.yaml", "gpu:\n  enabled: true\ngpus:\n  a: 1\n");
  EXPECT_EQ(loadError(minimal("gpu_config: g2.yaml\n", "j2.yaml"), {}),
            topLevel + ":3: unknown key 'gpus' (did you mean 'gpu'?)");

  const std::string jobTypo = minimal("search:\n  thread: 2\n", "j3.yaml");  // line 8
  EXPECT_EQ(loadError(jobTypo, {}),
            jobTypo + ":8: unknown key 'search.thread' (did you mean 'search.threads'?)");

  const std::string inlineGpu = minimal("gpu:\n  batch:\n    batchsize: 2\n", "j4.yaml");
  EXPECT_EQ(loadError(inlineGpu, {}), inlineGpu +
                                          ":9: unknown key 'gpu.batch.batchsize' (did you mean "
                                          "'gpu.batch.batch_size'?)");

  const std::string unknownSection = minimal("ollama:\n  host: x\n", "j5.yaml");
  EXPECT_NE(loadError(unknownSection, {}).find(unknownSection + ":7: unknown key 'ollama'"),
            std::string::npos)
      << "ollama belongs under gpu:, not in the job file";
}

TEST_F(JobConfigFile, WrongTypeInTheGpuFileNamesItsLine) {
  const std::string gpuFile = write("g.yaml", "gpu:\n  async:\n    num_streams: many\n");
  EXPECT_EQ(loadError(minimal("gpu_config: g.yaml\n"), {}),
            gpuFile + ":3: key 'gpu.async.num_streams': expected an integer, got 'many'");
}

TEST_F(JobConfigFile, SeedOllamaSectionIsAcceptedAndReportedIgnored) {
  write("g.yaml",
        "gpu:\n"
        "  enabled: true\n"
        "  ollama:\n"
        "    base_url: http://localhost:11434\n"
        "    models: [llama3, mistral]\n"
        "    keep_alive: 5m\n");
  const JobConfig c = loadJobConfig(minimal("gpu_config: g.yaml\n"), {});
  EXPECT_TRUE(c.gpu.ollamaIgnored);
  EXPECT_FALSE(loadJobConfig(minimal(), {}).gpu.ollamaIgnored);
}

TEST_F(JobConfigFile, HashFollowsTheEffectiveSettings) {
  const std::string config = minimal();
  const std::string base = loadJobConfig(config, {}).hash;
  EXPECT_EQ(loadJobConfig(config, {}).hash, base);
  // Writing a default out, or comments and key order, changes nothing effective.
  const std::string sameSettings = write("same.yaml",
                                         "# a comment\n"
                                         "critics:\n"
                                         "  rules: critics.yaml\n"
                                         "job:\n"
                                         "  top_k: 10   # the default\n"
                                         "  output: out\n"
                                         "  precedents: corpus\n"
                                         "  input: in/cases.jsonl\n");
  EXPECT_EQ(loadJobConfig(sameSettings, {}).hash, base);
  EXPECT_EQ(loadJobConfig(config, {"job.top_k=10"}).hash, base);

  for (const std::string set :
       {"job.top_k=11", "gpu.memory.dtype=float16", "aggregate.deny_threshold=2.6",
        "embedder.seed=1", "embedder.fields=[text]", "job.output=other"}) {
    EXPECT_NE(loadJobConfig(config, {set}).hash, base) << set;
  }
}

}  // namespace
}  // namespace eleanor
