// Which device a rank computes on. Pure: decided from the GPU config, the rank's place on its
// host and what the machine offers, so every case is unit-tested without a GPU.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "common/gpu_config.h"

namespace eleanor {

struct DeviceChoice {
  bool cuda = false;
  int device = -1;                    // CUDA device index (after CUDA_VISIBLE_DEVICES) when cuda
  std::string reason;                 // why this device: shown in the rank table
  std::vector<std::string> warnings;  // to log once
};

// Tries gpu.device_preference in order: "cuda" takes GPU device_ids[localRank] (or localRank
// when device_ids is empty) when `cudaUsable` and there are enough GPUs; "mps" is skipped on
// Linux with a warning; "cpu" always works. Throws UserError when cuda is preferred and
// usable but the host has fewer (listed) GPUs than ranks, or device_ids names a GPU that is
// not visible (one rank per GPU is the contract, and silently sharing a GPU would hide it),
// and when no listed device is usable.
DeviceChoice chooseDevice(const GpuConfig& config, int localRank, int localSize, int visibleGpus,
                          bool cudaUsable, const std::string& cudaProblem);

// A warning when the launcher's idea of this rank's local rank (OMPI_COMM_WORLD_LOCAL_RANK,
// SLURM_LOCALID) differs from MPI's shared-memory split, "" otherwise. `getenv` is injectable.
std::string checkLocalRank(int mpiLocalRank, char* (*getEnv)(const char*) = &std::getenv);

// An error message when the MPI world does not have the size the launcher asked for, ""
// otherwise: SLURM_NTASKS (srun/sbatch) or OMPI_COMM_WORLD_SIZE (mpirun) naming N ranks while
// MPI reports `mpiSize` (typically 1: srun or a shell loop started N singletons without PMI).
std::string checkWorldSize(int mpiSize, char* (*getEnv)(const char*) = &std::getenv);

}  // namespace eleanor
