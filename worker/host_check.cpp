#include "worker/host_check.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/device_info.h"
#include "common/error.h"
#include "common/host_memory.h"
#include "common/mpi_communicator.h"
#include "common/npy.h"
#include "common/process_identity.h"
#include "common/text_hash.h"
#include "worker/cases/input_files.h"
#include "worker/critics/critic_rules.h"
#include "worker/retrieval/shard_memory.h"
#include "worker/torch_info.h"

#ifndef ELEANOR_VERSION
#define ELEANOR_VERSION "unknown"
#endif

namespace eleanor {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JobFile, setting, path, bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JobFiles, files, inputFiles, corpusRows, corpusDim)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HostFacts, host, torch, blas, blasOptimized, mpi,
                                                gpus, cores, memoryBytes, memorySource, configHash,
                                                configProblem, problems)

namespace {

// The file's size, nullopt where rank 0 cannot stat it (its own rows say why).
std::optional<int64_t> regularFileBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<int64_t>(st.st_size);
}

void addFile(JobFiles& files, const std::string& setting, const std::string& path) {
  if (path.empty()) return;
  if (const auto bytes = regularFileBytes(path)) files.files.push_back({setting, path, *bytes});
}

// How a host differs from rank 0's in something every rank must share to give the same answers.
struct Shared {
  const char* what;
  std::string HostFacts::*field;
};

}  // namespace

std::string buildIdentity() {
  std::string hash;
  try {
    hash = fileHash64Hex("/proc/self/exe");
  } catch (const UserError&) {
    hash = "unreadable";
  }
  return fmt::format("eleanor-dist {} (binary {})", ELEANOR_VERSION, hash);
}

std::string buildAndLibraries() {
  // Never throws: every rank must reach the comparison that follows (a collective).
  TorchInfo torch;
  try {
    torch = queryTorch();
  } catch (const std::exception& e) {
    torch.version = fmt::format("unknown ({})", e.what());
  }
  return fmt::format("{}, LibTorch {}, BLAS {}, {}", buildIdentity(), torch.version,
                     torch.blasLibrary.empty() ? "none found" : torch.blasLibrary,
                     MpiSession::libraryVersion());
}

JobFiles jobFilesOf(const JobConfig& config, size_t maxInputFiles) {
  JobFiles files;
  try {
    const std::vector<std::string> inputs = expandInputs(config.job.input, "job.input");
    files.inputFiles = static_cast<int64_t>(inputs.size());
    const size_t n = inputs.size();
    const size_t take = std::min(n, std::max<size_t>(maxInputFiles, 2));
    for (size_t i = 0; i < take; ++i) {
      // Evenly spaced, the first (i = 0) and the last (i = take - 1) among them.
      const size_t at = take == 1 ? 0 : i * (n - 1) / (take - 1);
      addFile(files, "job.input", inputs[at]);
    }
  } catch (const UserError&) {
    // rank 0's input row says what is wrong with it
  }
  const std::string corpus = config.job.precedents;
  addFile(files, "job.precedents", corpus + "/embeddings.npy");
  addFile(files, "job.precedents", corpus + "/meta.jsonl");
  try {
    const NpyMatrix matrix(corpus + "/embeddings.npy");
    files.corpusRows = matrix.rows();
    files.corpusDim = matrix.cols();
  } catch (const UserError&) {
    // rank 0's corpus row says why
  }
  if (config.embedder.type == "torchscript") {
    addFile(files, "embedder.model", config.embedder.model);
    addFile(files, "embedder.vocab", config.embedder.vocab);
  }
  for (const auto& critic : config.critics.models)
    addFile(files, fmt::format("critics.models.{}", critic.name), critic.model);
  return files;
}

std::vector<std::string> jobFileProblems(const JobFiles& files, size_t maxListed) {
  std::vector<std::string> problems;
  size_t more = 0;
  for (const JobFile& file : files.files) {
    std::string problem;
    struct stat st {};
    if (::stat(file.path.c_str(), &st) != 0) {
      problem = fmt::format("cannot see '{}' ({}) here: {}", file.path, file.setting,
                            std::strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
      problem = fmt::format("'{}' ({}) is not a regular file here", file.path, file.setting);
    } else if (::access(file.path.c_str(), R_OK) != 0) {
      problem = fmt::format("cannot read '{}' ({}) here: {}", file.path, file.setting,
                            std::strerror(errno));
    } else if (static_cast<int64_t>(st.st_size) != file.bytes) {
      problem = fmt::format("'{}' ({}) has {} bytes here but {} on rank 0's host", file.path,
                            file.setting, static_cast<int64_t>(st.st_size), file.bytes);
    }
    if (problem.empty()) continue;
    if (problems.size() < maxListed) {
      problems.push_back(std::move(problem));
    } else {
      ++more;
    }
  }
  if (more > 0)
    problems.push_back(
        fmt::format("and {} more of rank 0's files differ or are missing here", more));
  if (!problems.empty())
    problems.back() +=
        ": every rank opens the job's files by rank 0's paths; put them on a file system "
        "every node mounts at the same path, or copy them whole to each node";
  return problems;
}

HostFacts collectHostFacts(const JobConfig* config, const std::string& configProblem,
                           const JobFiles& files, int localRanks, int worldSize, bool check) {
  HostFacts facts;
  facts.host = hostName();
  const TorchInfo torch = queryTorch();
  facts.torch = torch.version;
  facts.blas = torch.blasLibrary;
  facts.blasOptimized = torch.blasIsOptimized;
  facts.mpi = MpiSession::libraryVersion();
  for (const GpuInfo& gpu : queryDevices().gpus) facts.gpus.push_back(gpu.describe());
  facts.cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const HostMemory memory = hostMemory();
  facts.memoryBytes = memory.availableBytes;
  facts.memorySource = memory.source;
  if (config) {
    facts.configHash = config->hash;
  } else {
    facts.configProblem = configProblem;
  }
  if (!check || !config) return facts;
  facts.problems = jobFileProblems(files);
  if (config->job.checkMemory && files.corpusRows > 0) {
    const ShardPlacement largest = largestShard(files.corpusRows, files.corpusDim,
                                                knownCriticNames().size(), worldSize, localRanks);
    if (auto problem =
            shardMemoryProblem(config->job.precedents + "/embeddings.npy", largest, memory))
      facts.problems.push_back(*problem);
  }
  return facts;
}

std::string hostFactsJson(const HostFacts& facts) {
  return nlohmann::json(facts).dump();
}
std::string jobFilesJson(const JobFiles& files) {
  return nlohmann::json(files).dump();
}

HostFacts hostFactsFromJson(const std::string& text) {
  return nlohmann::json::parse(text).get<HostFacts>();
}
JobFiles jobFilesFromJson(const std::string& text) {
  return nlohmann::json::parse(text).get<JobFiles>();
}

std::string rankListText(const std::vector<int>& ranks) {
  std::string text;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (!text.empty()) text += ',';
    text += j == i ? fmt::format("{}", ranks[i]) : fmt::format("{}-{}", ranks[i], ranks[j]);
    i = j + 1;
  }
  return text;
}

std::vector<PreflightRow> compareHosts(const std::vector<HostFacts>& hosts,
                                       const std::vector<std::vector<int>>& ranks) {
  std::vector<PreflightRow> rows;
  if (hosts.empty()) return rows;
  const HostFacts& first = hosts.front();
  static const Shared shared[] = {{"LibTorch", &HostFacts::torch},
                                  {"BLAS library", &HostFacts::blas},
                                  {"MPI library", &HostFacts::mpi}};
  for (size_t i = 0; i < hosts.size(); ++i) {
    const HostFacts& host = hosts[i];
    const std::string what = "host " + host.host;
    const std::string memory =
        host.memoryBytes < 0
            ? "memory unknown"
            : fmt::format("{} available ({})", byteSizeText(host.memoryBytes), host.memorySource);
    const std::string gpus =
        host.gpus.empty() ? "no GPU"
                          : fmt::format("{} GPU(s): {}", host.gpus.size(), host.gpus.front());
    rows.push_back(
        {what,
         fmt::format("rank(s) {}: {} cores, {}, {}{}",
                     i < ranks.size() ? rankListText(ranks[i]) : "?", host.cores, memory, gpus,
                     i == 0 ? " (rank 0's host: the others are compared with it)" : "")});
    if (i == 0) continue;
    const auto problem = [&](const std::string& text) {
      rows.push_back({what, "PROBLEM: " + text, true});
    };
    for (const Shared& item : shared) {
      const std::string& mine = host.*item.field;
      const std::string& theirs = first.*item.field;
      if (mine != theirs)
        problem(
            fmt::format("{} here is '{}', on {} (rank 0's) '{}': the ranks of one job must "
                        "run the same libraries to give the answers a run on one node gives; "
                        "install the same on every node",
                        item.what, mine, first.host, theirs));
    }
    if (!host.blasOptimized)
      problem(
          fmt::format("the BLAS here ({}) is not an optimised one: its ranks would run matrix "
                      "products about 35x slower than the others and hold up every round; "
                      "install libopenblas0-pthread there (scripts/setup.sh does)",
                      host.blas.empty() ? "none found" : host.blas));
    if (!host.configProblem.empty()) {
      problem(fmt::format("the config does not load here: {}", host.configProblem));
    } else if (host.configHash != first.configHash) {
      problem(
          fmt::format("the config loads here with other settings (hash {}, rank 0's {}): "
                      "a file it names (gpu.yaml, critics.yaml) differs on this node; give "
                      "every node the same files",
                      host.configHash, first.configHash));
    }
    for (const std::string& found : host.problems) problem(found);
  }
  return rows;
}

}  // namespace eleanor
