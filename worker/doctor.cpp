#include "worker/doctor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <map>

#include "common/blas_core.h"
#include "common/cpu_features.h"
#include "common/device_info.h"
#include "common/host_memory.h"
#include "common/mpi_communicator.h"
#include "common/process_identity.h"
#include "worker/preflight.h"
#include "worker/torch_info.h"

#ifndef ELEANOR_VERSION
#define ELEANOR_VERSION "unknown"
#endif

namespace eleanor {

int runDoctor(Communicator& comm, const JobConfig* config, const std::string& configProblem) {
  // Hosts in rank order, so rank 0 can show ranks per host.
  const std::vector<std::string> hosts = allGatherStrings(comm, processIdentity().host);
  if (comm.rank() != 0) return configProblem.empty() ? 0 : 2;
  std::map<std::string, std::vector<int>> ranksByHost;
  for (int r = 0; r < comm.size(); ++r) ranksByHost[hosts[r]].push_back(r);

  const TorchInfo torch = queryTorch();
  const DeviceReport devices = queryDevices();
  int problems = 0;
  const auto row = [](const std::string& what, const std::string& value) {
    std::printf("  %-14s %s\n", what.c_str(), value.c_str());
  };
  std::printf("eleanor-dist %s doctor\n", ELEANOR_VERSION);
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
    row("config", fmt::format("{} (hash {})", config->file, config->hash));
    for (const PreflightRow& check : preflightJobFiles(*config)) {
      row(check.what, check.value);
      if (check.problem) ++problems;
    }
    std::printf("%s\n", effectiveConfigText(*config).c_str());
  } else {
    ++problems;
    row("config", "PROBLEM: " + configProblem);
  }
  std::printf("%s\n", problems ? fmt::format("{} problem(s) found", problems).c_str()
                               : "everything a CPU run needs is in place");
  return problems ? 1 : 0;
}

}  // namespace eleanor
