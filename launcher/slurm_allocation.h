// A Slurm allocation as the environment of its batch script (sbatch) or shell (salloc)
// describes it, and what `srun --mpi=list` offers. Pure: parses strings handed in, so the
// launcher's Slurm plan is unit-tested with an environment set by the test.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace eleanor {

struct SlurmAllocation {
  std::string jobId;                // SLURM_JOB_ID
  int nodes = 1;                    // SLURM_JOB_NUM_NODES (or SLURM_NNODES)
  std::optional<int> tasks;         // SLURM_NTASKS (or SLURM_NPROCS): sbatch --ntasks & co.
  std::optional<int> tasksPerNode;  // SLURM_NTASKS_PER_NODE: sbatch --ntasks-per-node
  std::optional<int> cpusPerTask;   // SLURM_CPUS_PER_TASK: sbatch --cpus-per-task
  std::optional<int> cpusOnNode;    // SLURM_CPUS_ON_NODE: CPUs allocated on this node
  // GPUs allocated per node: SLURM_GPUS_PER_NODE ("N" or "type:N"), else SLURM_GPUS_ON_NODE.
  std::optional<int> gpusPerNode;
  // SLURM_STEP_NUM_TASKS: set when this process is itself a task of an srun step (0: not).
  int stepTasks = 0;
};

// The allocation this process runs in, or nullopt when SLURM_JOB_ID is unset or empty.
// Variables that are missing or not whole numbers > 0 stay unset (nodes stays 1).
std::optional<SlurmAllocation> readSlurmAllocation(const std::map<std::string, std::string>& vars);

// The MPI plugin types in the output of `srun --mpi=list`, in the order printed, e.g.
// {"pmix", "none", "cray_shasta", "pmi2", "pmix_v4"}. Reads Slurm 20 ("srun: MPI types
// are..." then "srun: pmix" lines) to 23 (tab-indented names, then "specific pmix plugin
// versions available: pmix_v4"); anything else on a line is ignored.
std::vector<std::string> parseSrunMpiList(const std::string& output);

// The --mpi value that starts Open MPI 4 ranks under srun: "pmix" when offered, else the
// first "pmix_vN"; nullopt when srun offers no PMIx (pmi2 alone does not start Debian's or
// most distributions' Open MPI).
std::optional<std::string> pmixPlugin(const std::vector<std::string>& plugins);

}  // namespace eleanor
