#include "common/gpu_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "common/yaml_reader.h"

namespace eleanor {

std::string canonicalDtype(const std::string& name) {
  if (name == "auto") return "auto";
  if (name == "bf16" || name == "bfloat16") return "bfloat16";
  if (name == "fp16" || name == "float16" || name == "half") return "float16";
  if (name == "fp32" || name == "float32" || name == "float") return "float32";
  return "";
}

int64_t parseByteSize(const std::string& text, YamlReader& reader, const std::string& key) {
  static const std::regex pattern(R"(^\s*([0-9]+(\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$)",
                                  std::regex::icase);
  std::smatch match;
  // Sizes are short; a long text would only drive std::regex's recursion into the stack.
  if (text.size() > 64 || !std::regex_match(text, match, pattern))
    reader.fail(key, fmt::format("'{}' is not a size: write e.g. 40GiB, 512MiB or 0", text));
  const double number = std::stod(match[1].str());
  std::string unit = match[3].str();
  std::transform(unit.begin(), unit.end(), unit.begin(), ::toupper);
  double scale = 1;
  if (!unit.empty() && unit != "B") {
    const int power = std::string("KMGT").find(unit[0]) + 1;
    scale = std::pow(unit.size() == 3 ? 1024.0 : 1000.0, power);
  }
  const double bytes = number * scale;
  // 2^63 is exactly representable: anything at or above it does not fit in int64.
  if (!(bytes < 9223372036854775808.0)) reader.fail(key, fmt::format("'{}' is too large", text));
  return static_cast<int64_t>(bytes);
}

GpuConfig readGpuConfig(YamlReader& gpu) {
  GpuConfig c;
  gpu.read("enabled", c.enabled);
  gpu.read("device_preference", c.devicePreference);
  static const std::set<std::string> devices{"cuda", "mps", "cpu"};
  for (const auto& d : c.devicePreference) {
    if (!devices.count(d))
      gpu.fail("device_preference", fmt::format("'{}' is not a device: use cuda, mps or cpu", d));
  }

  auto multi = gpu.child("multi_gpu");
  multi.read("device_ids", c.multiGpu.deviceIds);
  multi.read("strategy", c.multiGpu.strategy);
  std::set<int> seen;
  for (int id : c.multiGpu.deviceIds) {
    if (id < 0 || !seen.insert(id).second)
      multi.fail("device_ids", fmt::format("device {} is negative or listed twice", id));
  }
  if (c.multiGpu.strategy != "data_parallel")
    multi.fail("strategy", fmt::format("'{}' is not supported: the runner is data parallel "
                                       "(one rank per GPU); use data_parallel",
                                       c.multiGpu.strategy));
  multi.finish();

  gpu.read("model_assignments", c.modelAssignments);
  for (const auto& [name, index] : c.modelAssignments) {
    if (index < 0)
      gpu.fail("model_assignments." + name, fmt::format("GPU index {} is negative", index));
  }

  auto memory = gpu.child("memory");
  memory.read("mixed_precision", c.memory.mixedPrecision);
  memory.read("dtype", c.memory.dtype);
  if (canonicalDtype(c.memory.dtype).empty())
    memory.fail("dtype", fmt::format("'{}' is not a dtype: use auto, bfloat16, float16 or float32",
                                     c.memory.dtype));
  c.memory.dtype = canonicalDtype(c.memory.dtype);
  auto quantization = memory.child("quantization");
  quantization.read("enabled", c.memory.quantization.enabled);
  quantization.read("bits", c.memory.quantization.bits);
  if (c.memory.quantization.bits != 8)
    quantization.fail("bits", fmt::format("{}-bit quantization is not supported: use 8 (int8 "
                                          "precedent shards with a per-row scale)",
                                          c.memory.quantization.bits));
  quantization.finish();
  memory.read("offload_to_cpu", c.memory.offloadToCpu);
  memory.read("max_memory_per_gpu", c.memory.maxMemoryPerGpu);
  if (!c.memory.maxMemoryPerGpu.empty())
    c.memory.maxMemoryPerGpuBytes =
        parseByteSize(c.memory.maxMemoryPerGpu, memory, "max_memory_per_gpu");
  memory.finish();

  auto batch = gpu.child("batch");
  batch.read("batch_size", c.batch.batchSize);
  batch.read("max_batch_size", c.batch.maxBatchSize);
  batch.read("min_batch_size", c.batch.minBatchSize);
  batch.read("dynamic_batching", c.batch.dynamicBatching);
  if (c.batch.minBatchSize < 1 || c.batch.minBatchSize > c.batch.batchSize ||
      c.batch.batchSize > c.batch.maxBatchSize)
    batch.fail("batch_size",
               fmt::format("need 1 <= min_batch_size ({}) <= batch_size ({}) <= max_batch_size "
                           "({})",
                           c.batch.minBatchSize, c.batch.batchSize, c.batch.maxBatchSize));
  batch.finish();

  auto async = gpu.child("async");
  async.read("num_streams", c.async.numStreams);
  async.read("prefetch", c.async.prefetch);
  if (c.async.numStreams < 1 || c.async.numStreams > 64)
    async.fail("num_streams", fmt::format("{} is outside 1..64", c.async.numStreams));
  async.finish();

  auto cuda = gpu.child("cuda");
  cuda.read("benchmark", c.cuda.benchmark);
  cuda.read("allow_tf32", c.cuda.allowTf32);
  cuda.finish();

  auto monitoring = gpu.child("monitoring");
  monitoring.read("enable_profiling", c.monitoring.enableProfiling);
  monitoring.read("memory_check_interval", c.monitoring.memoryCheckInterval);
  monitoring.read("profile_dir", c.monitoring.profileDir);
  if (c.monitoring.memoryCheckInterval < 0)
    monitoring.fail("memory_check_interval", "must be >= 0 seconds (0 turns it off)");
  monitoring.finish();

  // The seed's Ollama keys configure an LLM server the runner does not start: accepted so the
  // seed's gpu.yaml loads unchanged, and reported as ignored.
  c.ollamaIgnored = gpu.has("ollama");
  gpu.ignore("ollama");
  gpu.finish();
  return c;
}

}  // namespace eleanor
