// The GPU settings of ELEANOR V8's gpu.yaml (the seed's keys), loaded and validated on every
// run, also on CPU-only builds, so a file that works on a laptop works on a cluster.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace eleanor {

class YamlReader;

struct GpuConfig {
  bool enabled = true;
  // Tried in order; "mps" is accepted and skipped on Linux with a warning.
  std::vector<std::string> devicePreference{"cuda", "mps", "cpu"};

  struct MultiGpu {
    std::vector<int> deviceIds;  // empty: every visible GPU, one rank each
    std::string strategy = "data_parallel";
  } multiGpu;

  // Component name -> GPU index (e.g. embedder: 0, fairness_critic: 1).
  std::map<std::string, int> modelAssignments;

  struct Memory {
    bool mixedPrecision = true;
    std::string dtype = "auto";  // auto | bfloat16 | float16 | float32 (bf16/fp16/fp32 too)
    struct Quantization {
      bool enabled = false;
      int bits = 8;
    } quantization;
    bool offloadToCpu = false;
    std::string maxMemoryPerGpu;  // "" = no cap; else e.g. "40GiB", "512MiB"
    int64_t maxMemoryPerGpuBytes = 0;
  } memory;

  struct Batch {
    int batchSize = 8;
    int maxBatchSize = 32;
    int minBatchSize = 1;
    bool dynamicBatching = true;
  } batch;

  struct Async {
    int numStreams = 4;
    bool prefetch = true;
  } async;

  struct Cuda {
    bool benchmark = true;
    bool allowTf32 = true;
  } cuda;

  struct Monitoring {
    bool enableProfiling = false;
    double memoryCheckInterval = 60;  // seconds between memory log lines; 0 = off
    std::string profileDir = "logs/gpu_profiles";
  } monitoring;

  bool ollamaIgnored = false;  // the seed's `ollama:` section was present (and is not used)
};

// Reads the `gpu` section from `reader` (the GPU file's root) and checks every key and value.
GpuConfig readGpuConfig(YamlReader& gpuSection);

// "40GiB" / "512MB" / "1.5GB" / "0" -> bytes. Throws UserError via `reader` for bad text.
int64_t parseByteSize(const std::string& text, YamlReader& reader, const std::string& key);

// The canonical dtype name: bfloat16, float16, float32 or auto.
std::string canonicalDtype(const std::string& name);

}  // namespace eleanor
