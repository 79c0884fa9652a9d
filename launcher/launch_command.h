// The launch command: turns what the user asked for (LaunchRequest) and what this machine looks
// like (Environment) into the program and arguments to exec (LaunchPlan). Pure: everything it
// reads from the machine comes in through Environment (variables, cores, GPUs, what srun
// offers), so tests build one by hand for every case: a hostfile, -H, a Slurm allocation,
// with and without GPUs.
//
// Which launcher:
//   inside a Slurm allocation (SLURM_JOB_ID set), no hosts given:
//     srun --mpi=pmix when `srun --mpi=list` offers pmix (Open MPI 4 starts under srun only
//     through PMIx), else mpirun inside the allocation (it reads the nodes from Slurm);
//   otherwise: mpirun, on this machine or on the --hostfile / -H hosts.
// --launcher mpirun|srun forces one (srun still needs an allocation and pmix).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace eleanor {

enum class Launcher { kAuto, kMpirun, kSrun };

// What the user asked for on the command line.
struct LaunchRequest {
  // --np. nullopt: the allocation's task count under Slurm (SLURM_NTASKS), else one rank per
  // GPU per node when there are GPUs; an error otherwise.
  std::optional<int> ranks;
  // --gpus-per-node. nullopt: what Slurm allocated (SLURM_GPUS_PER_NODE / SLURM_GPUS_ON_NODE)
  // inside an allocation, else the GPUs visible here (Environment::gpuCount, limited by
  // CUDA_VISIBLE_DEVICES). 0: a CPU run. With GPUs, one rank per GPU: at most this many ranks
  // per node.
  std::optional<int> gpusPerNode;
  // --cpus-per-task: cores (and OMP_NUM_THREADS) per rank. nullopt: SLURM_CPUS_PER_TASK inside
  // an allocation, else the node's cores / the ranks on the busiest node.
  std::optional<int> cpusPerTask;
  Launcher launcher = Launcher::kAuto;  // --launcher
  std::string hostfile;                 // --hostfile; empty: none
  std::string hosts;                    // -H "host[:slots],..."; empty: none
  std::string mpirun = "mpirun";        // --mpirun; looked up in PATH when it has no '/'
  std::string srun = "srun";            // --srun; likewise
  std::string worker;                   // --worker; empty: Environment::defaultWorker
  std::vector<std::string> exports;     // -x NAME or NAME=value, in the order given
  std::vector<std::string> workerArgs;  // everything after --, passed verbatim
};

// What the builder reads from the machine the launcher runs on. The functions may be empty
// (tests that do not need them): no GPUs, no srun.
struct Environment {
  std::map<std::string, std::string> vars;  // the launcher's environment
  int cores = 1;        // physical cores this process may use: what Open MPI counts as local slots
  bool isRoot = false;  // effective uid 0
  std::string defaultWorker;  // eleanor-worker next to the launcher's own executable
  // True when path names an executable regular file.
  std::function<bool(const std::string& path)> isExecutable;
  // The file's contents, or nullopt when it is missing or unreadable.
  std::function<std::optional<std::string>(const std::string& path)> readFile;
  // NVIDIA GPUs on this machine (`nvidia-smi -L`, else /dev/nvidia<N>), before
  // CUDA_VISIBLE_DEVICES. Called only when the request leaves --gpus-per-node open.
  std::function<int()> gpuCount;
  // What `srun --mpi=list` prints (stdout and stderr), nullopt when srun cannot be run.
  // Called only inside a Slurm allocation.
  std::function<std::optional<std::string>()> srunMpiList;
};

// What to exec. argv[0] is the program (execvp looks it up in PATH).
struct LaunchPlan {
  std::vector<std::string> argv;
  // Variables to set in the launcher's own environment before the exec. The mpirun plan leaves
  // this empty and passes everything with -x, so the printed command is the whole story; srun
  // hands its own environment to every task (--export=ALL), so the srun plan sets them here
  // (OMP_NUM_THREADS, -x NAME=value) and commandLine() prints them before the argv.
  std::map<std::string, std::string> setEnv;
  // Things the user should know about the choices made (oversubscription, the launcher picked,
  // GPUs found...), one line each.
  std::vector<std::string> notes;
};

// The mpirun (Open MPI 4) or srun command for the request. Throws UserError with a one-line
// message that names the bad option and the fix: --np < 1, no --np and nothing to infer it
// from, more ranks than GPUs, bad -H syntax, unreadable or malformed hostfile, more ranks than
// the given slots, missing worker, nothing after --, bad -x name, --launcher srun outside an
// allocation or without pmix, eleanor-launch itself started as several srun tasks.
LaunchPlan buildLaunchPlan(const LaunchRequest& request, const Environment& environment);

// The arguments as one line a POSIX shell reads back as the same argv: arguments made only of
// safe characters stay bare, the others are single-quoted. For display only; never exec'd.
std::string shellQuote(const std::vector<std::string>& args);

// The plan as one copy-pasteable line: "NAME=value ... argv..." (assignments only when setEnv
// has any).
std::string commandLine(const LaunchPlan& plan);

}  // namespace eleanor
