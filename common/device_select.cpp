#include "common/device_select.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <string_view>

#include "common/device_info.h"
#include "common/error.h"

namespace eleanor {

DeviceChoice chooseDevice(const GpuConfig& config, int localRank, int localSize, int visibleGpus,
                          bool cudaUsable, const std::string& cudaProblem) {
  DeviceChoice choice;
  if (!config.enabled) {
    choice.reason = "gpu.enabled is false";
    return choice;
  }
  for (const auto& kind : config.devicePreference) {
    if (kind == "mps") {
      // (a std::string_view: GCC 12 warns, wrongly, -Warray-bounds on a long literal here)
      choice.warnings.emplace_back(std::string_view(
          "gpu.device_preference lists mps: Apple's Metal is not available on Linux; skipped"));
      continue;
    }
    if (kind == "cpu") {
      choice.reason = choice.reason.empty() ? "gpu.device_preference chose cpu" : choice.reason;
      return choice;
    }
    // cuda
    if (!cudaUsable) {
      choice.reason = "no usable GPU: " + cudaProblem;
      continue;
    }
    std::vector<int> ids = config.multiGpu.deviceIds;
    if (ids.empty()) {
      for (int i = 0; i < visibleGpus; ++i) ids.push_back(i);
    }
    for (int id : ids) {
      if (id >= visibleGpus)
        throw UserError(fmt::format(
            "gpu.multi_gpu.device_ids lists GPU {} but this host has {} visible GPU(s) (after "
            "CUDA_VISIBLE_DEVICES): list GPUs 0..{}",
            id, visibleGpus, visibleGpus - 1));
    }
    if (localSize > static_cast<int>(ids.size()))
      throw UserError(fmt::format(
          "{} ranks run on this host but {} GPU(s) are available to them: start one rank per "
          "GPU (e.g. eleanor-launch --np {} per node), or put cpu first in "
          "gpu.device_preference to run on CPUs",
          localSize, ids.size(), ids.size()));
    choice.cuda = true;
    choice.device = ids[static_cast<size_t>(localRank)];
    choice.reason = config.multiGpu.deviceIds.empty()
                        ? fmt::format("local rank {} -> GPU {}", localRank, choice.device)
                        : fmt::format("local rank {} -> gpu.multi_gpu.device_ids[{}] = GPU {}",
                                      localRank, localRank, choice.device);
    return choice;
  }
  throw UserError(fmt::format(
      "gpu.device_preference [{}] names no usable device ({}): add cpu to the list to run on "
      "CPUs",
      fmt::join(config.devicePreference, ", "),
      choice.reason.empty() ? "empty list" : choice.reason));
}

std::string checkLocalRank(int mpiLocalRank, char* (*getEnv)(const char*)) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    const char* value = getEnv(name);
    if (!value || !*value) continue;
    if (std::string(value) != std::to_string(mpiLocalRank))
      return fmt::format(
          "{}={} but MPI places this rank at local rank {} on its host; GPUs "
          "follow MPI's view (check the launcher's host list)",
          name, value, mpiLocalRank);
    return "";
  }
  return "";
}

std::string checkWorldSize(int mpiSize, char* (*getEnv)(const char*)) {
  const auto expected = [&](const char* name) -> long {
    const char* value = getEnv(name);
    return value && *value ? std::strtol(value, nullptr, 10) : 0;
  };
  const long slurm = expected("SLURM_NTASKS") ? expected("SLURM_NTASKS") : expected("SLURM_NPROCS");
  const long ompi = expected("OMPI_COMM_WORLD_SIZE");
  if (ompi > 0 && ompi != mpiSize)
    return fmt::format(
        "mpirun started {} ranks (OMPI_COMM_WORLD_SIZE) but this rank's MPI world "
        "has {}: the worker was built against a different MPI than this mpirun; "
        "use the mpirun of the MPI it was built with",
        ompi, mpiSize);
  if (slurm > 0 && slurm != mpiSize && ompi == 0) {
    if (mpiSize == 1)
      return fmt::format(
          "Slurm started {} tasks (SLURM_NTASKS) but each came up as a one-rank MPI world "
          "(a singleton): srun did not connect them. Launch with `srun --mpi=pmix` (or pmi2; "
          "`srun --mpi=list` shows what this Slurm offers), or with eleanor-launch, which "
          "picks one",
          slurm);
    return fmt::format(
        "Slurm asked for {} tasks (SLURM_NTASKS) but the MPI world has {} ranks: "
        "launch with srun inside the allocation or pass mpirun -np {}",
        slurm, mpiSize, slurm);
  }
  return "";
}

std::string GpuInfo::describe() const {
  return fmt::format("{}, {:.1f} GiB, sm_{}{}, PCI {}", name, totalBytes / double(1LL << 30), major,
                     minor, pciBusId.empty() ? "?" : pciBusId);
}

}  // namespace eleanor
