// JobConfig: everything one run reads from config/eleanor.yaml (+ the gpu.yaml it names, the
// critics.yaml it names, and --set overrides), as plain structs with defaults. Every key is
// checked: an unknown key or a wrong type is a UserError naming the key path and its line.
// Relative paths written in a file resolve from that file's folder; paths given with --set
// resolve from the current directory.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/gpu_config.h"
#include "worker/aggregate/aggregator.h"

namespace eleanor {

struct JobConfig {
  struct Job {
    // Cases: JSONL files, folders of them or patterns, read as one (input_files.h); resolved
    // like every path, not yet expanded.
    std::vector<std::string> input;
    std::string precedents;  // corpus folder (embeddings.npy + meta.jsonl)
    std::string output;      // results folder
    int batchSize = 256;     // lines per rank per round
    int topK = 10;
    int64_t maxLineBytes = 1 << 20;
    std::string duplicateIds = "keep_first";  // keep_first | error | allow
    int64_t maxErrors = -1;                   // bad lines before the job stops; -1 = no limit
    double checkpointIntervalS = 30;          // seconds between commits --resume restarts from
    bool checkMemory = true;  // refuse a shard larger than its rank's part of the host's memory
  } job;

  struct Embedder {
    std::string type = "hashing";
    int dim = 384;
    std::vector<std::string> fields{"text", "output"};  // case fields embedded, joined by '\n'
    int64_t seed = 0;
    bool bigrams = true;
    int64_t maxCachedEmbeddings = 100000;  // embedder.cache.max_cached_embeddings; 0 = off
    // type torchscript (worker/embed/torchscript_embedder.h)
    std::string model;             // the TorchScript file
    std::string vocab;             // its BERT vocab.txt
    std::string output = "token";  // token: the model returns B × L × D; sentence: B × D
    std::string pooling = "mean";  // mean | cls (output token)
    int maxSeqLen = 128;           // tokens per text, [CLS] and [SEP] included
    bool lowerCase = true;         // BERT's do_lower_case (also strips accents)
    int batchSize = 64;            // texts per model call
  } embedder;

  // A TorchScript head scoring one critic from the case embedding (B × D in, B severities in
  // [0, 3] out), combined with the rule critic of the same name.
  struct ModelCritic {
    std::string name;
    std::string model;
    std::string combine = "max";  // max | weighted: (1 - weight) * rule + weight * model
    double weight = 0.5;
  };

  struct Critics {
    std::string rules;  // critics.yaml
    std::vector<ModelCritic> models;
  } critics;

  struct Search {
    int64_t memoryBudgetMb = 256;
    int threads = 0;                // 0 = OMP_NUM_THREADS / LibTorch default
    std::string kernel = "auto";    // auto | fused | matmul (shard_index.h)
    std::string cpuDtype = "auto";  // auto | float32 | bfloat16: what the CPU fused index scores in
  } search;

  struct Comm {
    std::string backend = "auto";  // auto | mpi | nccl
    double timeoutS = 600;
  } comm;

  struct Logging {
    std::string level = "info";
    double progressIntervalS = 10;
  } logging;

  AggregatorConfig aggregate;
  GpuConfig gpu;

  std::string file;      // the config file as given
  YAML::Node effective;  // every setting after defaults and overrides
  std::string hash;      // of the effective settings (hex)
};

// Loads and checks the whole configuration. `requireJob` = false skips the checks that only a
// `run` needs (input and output paths), for `index` and `doctor`.
JobConfig loadJobConfig(const std::string& path, const std::vector<std::string>& sets,
                        bool requireJob = true);

// The effective settings as YAML text, for rank 0 to print once.
std::string effectiveConfigText(const JobConfig& config);

}  // namespace eleanor
