#include "worker/doctor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

#include "common/blas_core.h"
#include "common/cpu_features.h"
#include "common/device_info.h"
#include "common/file_versions.h"
#include "common/host_memory.h"
#include "common/mpi_communicator.h"
#include "common/process_identity.h"
#include "worker/device_plan.h"
#include "worker/host_check.h"
#include "worker/preflight.h"
#include "worker/torch_info.h"

#ifndef ELEANOR_VERSION
#define ELEANOR_VERSION "unknown"
#endif

namespace eleanor {

namespace {

// Where this rank would compute, as a run places it, or its PROBLEM.
std::string plannedDevice(const JobConfig* config) {
  if (!config) return "not planned: the config does not load on this rank";
  try {
    return planDevice(*config, processIdentity(), queryDevices(), torchHasCuda()).description;
  } catch (const std::exception& e) {  // a UserError, or CUDA failing to answer
    return std::string("PROBLEM: ") + e.what();
  }
}

// Collective. In a world of several hosts, the first rank of each host checks rank 0's files
// where it runs and says what its host has (host_check.h); rank 0 gets them in the order of the
// hosts' first ranks (its own host first), the others nothing. Nothing for one host: rank 0's
// own rows cover it.
std::vector<HostFacts> gatherHostFacts(Communicator& comm, const JobConfig* config,
                                       const std::string& configProblem,
                                       const std::vector<std::string>& hosts,
                                       const std::map<std::string, std::vector<int>>& ranksByHost) {
  if (ranksByHost.size() < 2) return {};
  const int rank = comm.rank();
  std::string files;
  if (rank == 0 && config) {
    try {
      files = jobFilesJson(jobFilesOf(*config));
    } catch (const std::exception& e) {  // the other hosts then check no files; say why
      spdlog::warn("doctor: listing the job's files for the other hosts failed: {}", e.what());
    }
  }
  files = allGatherStrings(comm, files).front();  // rank 0's, on every rank
  const std::vector<int>& mates = ranksByHost.at(hosts[rank]);
  std::string mine;
  if (mates.front() == rank) {
    HostFacts facts;
    try {
      facts = collectHostFacts(config, configProblem,
                               files.empty() ? JobFiles{} : jobFilesFromJson(files),
                               static_cast<int>(mates.size()), comm.size(), rank != 0);
    } catch (const std::exception& e) {
      facts.problems.push_back(fmt::format("checking this host failed: {}", e.what()));
    }
    facts.host = hosts[rank];
    mine = hostFactsJson(facts);
  }
  std::vector<HostFacts> facts;
  for (const std::string& text : gatherStrings(comm, mine, 0))
    if (!text.empty()) facts.push_back(hostFactsFromJson(text));
  return facts;
}

}  // namespace

int runDoctor(Communicator& comm, const JobConfig* config, const std::string& configProblem) {
  // Hosts in rank order, so rank 0 can show ranks per host.
  const std::vector<std::string> hosts = allGatherStrings(comm, processIdentity().host);
  std::map<std::string, std::vector<int>> ranksByHost;
  for (int r = 0; r < comm.size(); ++r) ranksByHost[hosts[r]].push_back(r);
  const std::vector<std::string> rankDevices = gatherStrings(comm, plannedDevice(config), 0);
  const std::vector<HostFacts> hostFacts =
      gatherHostFacts(comm, config, configProblem, hosts, ranksByHost);
  const std::string build = buildIdentity();
  const auto otherBuilds = ranksThatDiffer(comm, build);
  if (comm.rank() != 0) return configProblem.empty() ? 0 : 2;

  const TorchInfo torch = queryTorch();
  const DeviceReport devices = queryDevices();
  int problems = 0;
  const auto row = [](const std::string& what, const std::string& value) {
    std::printf("  %-14s %s\n", what.c_str(), value.c_str());
  };
  std::printf("eleanor-dist %s doctor\n", ELEANOR_VERSION);
  if (otherBuilds) {
    ++problems;
    row("build", fmt::format("PROBLEM: the ranks run different eleanor-worker builds ({}): a "
                             "run warns and goes on, but its cases may be decided as no one "
                             "build decides them; run one build on every node (a shared install)",
                             *otherBuilds));
  } else {
    row("build", comm.size() > 1 ? build + ", on every rank" : build);
  }
  row("LibTorch", fmt::format("{} (CPU capability {}, {} intra-op threads)", torch.version,
                              torch.cpuCapability, torch.threads));
  row("Threads", threadWaitNote());
  row("Memory pages", memoryPagesNote());
  const HostMemory memory = hostMemory();
  row("Host memory", memory.availableBytes < 0
                         ? std::string("unknown (no /proc/meminfo)")
                         : fmt::format("{} available ({}), shared by this host's {} rank(s)",
                                       byteSizeText(memory.availableBytes), memory.source,
                                       processIdentity().localSize));
  if (torch.blasIsOptimized) {
    const std::string kernels = blasKernelsNote();
    row("BLAS",
        kernels.empty() ? torch.blasLibrary : fmt::format("{} ({})", torch.blasLibrary, kernels));
  } else {
    ++problems;
    row("BLAS", fmt::format("{} -- PROBLEM: not an optimised BLAS; matrix products run about "
                            "35x slower. Install libopenblas0-pthread (scripts/setup.sh does)",
                            torch.blasLibrary.empty() ? "none found" : torch.blasLibrary));
  }
  row("Matrix units",
      fmt::format("{}; search.cpu_dtype auto scores in {}", matrixUnitsNote(),
                  bf16ProductsFast() ? "bfloat16 (float32 where its copy of a rank's "
                                       "shard would not fit)"
                                     : "float32"));
  row("MPI", MpiSession::libraryVersion());
  std::vector<std::string> perHost;
  for (const auto& [name, ranks] : ranksByHost)
    perHost.push_back(fmt::format("{}: {} ({})", name, ranks.size(), fmt::join(ranks, ",")));
  row("world", fmt::format("{} rank(s), backend {}; ranks per host: {}", comm.size(),
                           comm.backend(), fmt::join(perHost, "; ")));
  row("CUDA", devices.cudaRuntime);
  row("NCCL", devices.nccl);
  if (devices.gpus.empty()) {
    row("GPUs", devices.problem.empty() ? "none" : "no usable GPU: " + devices.problem);
  } else {
    for (const auto& gpu : devices.gpus) row(fmt::format("GPU {}", gpu.index), gpu.describe());
  }
  if (config) {
    // Ranks with the same device line share a row: "rank(s) 0-3: cpu (...)".
    std::vector<std::pair<std::string, std::vector<int>>> byDevice;
    for (int r = 0; r < comm.size(); ++r) {
      auto same = std::find_if(byDevice.begin(), byDevice.end(),
                               [&](const auto& group) { return group.first == rankDevices[r]; });
      if (same == byDevice.end()) same = byDevice.insert(byDevice.end(), {rankDevices[r], {}});
      same->second.push_back(r);
    }
    for (const auto& [device, ranks] : byDevice) {
      row("devices", fmt::format("rank(s) {}: {}", rankListText(ranks), device));
      if (device.rfind("PROBLEM", 0) == 0) ++problems;
    }
    row("config", fmt::format("{} (hash {})", config->file, config->hash));
    for (const PreflightRow& check : preflightJobFiles(*config)) {
      row(check.what, check.value);
      if (check.problem) ++problems;
    }
  } else {
    ++problems;
    row("config", "PROBLEM: " + configProblem);
  }
  std::vector<std::vector<int>> hostRanks;
  for (const HostFacts& host : hostFacts) hostRanks.push_back(ranksByHost[host.host]);
  for (const PreflightRow& check : compareHosts(hostFacts, hostRanks)) {
    row(check.what, check.value);
    if (check.problem) ++problems;
  }
  if (config) std::printf("%s\n", effectiveConfigText(*config).c_str());
  std::printf("%s\n", problems ? fmt::format("{} problem(s) found", problems).c_str()
                               : "everything a CPU run needs is in place");
  return problems ? 1 : 0;
}

}  // namespace eleanor
