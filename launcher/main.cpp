// eleanor-launch: parses the command line, reads this machine (environment, cores, uid, where
// eleanor-worker is, its GPUs, what srun offers), asks buildLaunchPlan for the mpirun or srun
// command, prints it and execs it.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "launcher/launch_command.h"

extern char** environ;

namespace eleanor {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDescription =
    R"(eleanor-launch: start one eleanor-worker per rank, with srun inside a Slurm allocation
and mpirun (Open MPI 4) everywhere else.

Synopsis: eleanor-launch [--np N] [--hostfile F | -H host[:slots],...] [--gpus-per-node G]
                         [--cpus-per-task C] [--launcher auto|mpirun|srun] [--dry-run]
                         [--mpirun PATH] [--srun PATH] [--worker PATH] [-x VAR[=value] ...]
                         -- run --config FILE [--set key=value]...

Everything after -- goes to eleanor-worker verbatim. The launcher prints the command (one
line on stderr, shell-quoted for copy-paste) and replaces itself with it.

Inside a Slurm allocation (SLURM_JOB_ID set; sbatch or salloc), no hosts given:
  srun --mpi=pmix            when `srun --mpi=list` offers pmix; else mpirun inside the
                             allocation (Open MPI reads the nodes from Slurm)
  --ntasks=N                 --np, else the allocation's tasks (SLURM_NTASKS), else one per GPU
  --gpus-per-node=G --gpu-bind=closest --ntasks-per-node
                             when the allocation (or --gpus-per-node) has GPUs: one rank each
  --cpus-per-task=C          --cpus-per-task, else SLURM_CPUS_PER_TASK, else the node's CPUs
                             / tasks per node; OMP_NUM_THREADS=C (unless you set it)
  --kill-on-bad-exit=1 --export=ALL
                             a dead rank ends the step; every task gets this environment
                             (NCCL_*, ELEANOR_* and -x NAME=value included)
Elsewhere, mpirun:
  -np N                      --np, else one rank per GPU per node when there are GPUs
                             (nvidia-smi -L, limited by CUDA_VISIBLE_DEVICES)
  --hostfile F / -H ...      as given
  --map-by ppr:G:node        with GPUs: G ranks per node, one per GPU
  --allow-run-as-root        when run as root (containers)
  --oversubscribe            local run with N above this machine's cores
  --bind-to ...              local: each rank bound to its share of the cores
                             (--map-by slot:PE=n), or none when oversubscribed;
                             with hosts: none (remote core counts are unknown here)
  -x OMP_NUM_THREADS=n       n = --cpus-per-task, else max(1, cores / ranks per node),
                             unless you set OMP_NUM_THREADS
  -x NAME                    every ELEANOR_* and NCCL_* variable set here, and your -x
eleanor-worker is looked up next to eleanor-launch unless --worker says otherwise.)";

constexpr const char* kExamples = R"(Examples:
  eleanor-launch --np 2 --dry-run -- run --config config/eleanor.yaml
  eleanor-launch --np 8 --hostfile hosts.txt -x LD_LIBRARY_PATH -- run --config job.yaml
  eleanor-launch --np 4 -H node1:2,node2:2 -- run --config job.yaml --set job.batch_size=64
  eleanor-launch -- run --config job.yaml          # in sbatch, or on a GPU box: one rank per GPU
  sbatch slurm/eleanor.sbatch                      # the sample job on a Slurm cluster

Exit status: the job's own; 2 for a bad launch request; 127 when mpirun or srun cannot be
started.)";

// Physical cores this process may run on, counting each core once however many hardware
// threads it has: that is what Open MPI counts as local slots. Falls back to logical CPUs.
int usableCores() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  std::set<std::string> cores;  // a core is named by its hardware-thread list
  int cpus = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    ++cpus;
    std::ifstream siblings(
        fmt::format("/sys/devices/system/cpu/cpu{}/topology/thread_siblings_list", cpu));
    std::string list;
    if (!std::getline(siblings, list)) return std::max(1, CPU_COUNT(&allowed));
    cores.insert(list);
  }
  return std::max(1, static_cast<int>(cores.size()));
}

std::string defaultWorker() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  return error ? std::string() : (self.parent_path() / "eleanor-worker").string();
}

// Runs a shell command line built here (any path in it shell-quoted) and returns what it
// printed on stdout, or nullopt when it could not be run or failed.
std::optional<std::string> capture(const char* command) {
  std::FILE* pipe = popen(command, "r");
  if (pipe == nullptr) return std::nullopt;
  std::string output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return output;
}

// NVIDIA GPUs on this machine: `nvidia-smi -L` lines ("GPU 0: NVIDIA H100 ..."), else the
// /dev/nvidia<N> device files (containers without nvidia-smi).
int countGpus() {
  if (const std::optional<std::string> listed = capture("nvidia-smi -L 2>/dev/null")) {
    std::istringstream lines(*listed);
    int gpus = 0;
    for (std::string line; std::getline(lines, line);) gpus += line.rfind("GPU ", 0) == 0;
    if (gpus > 0) return gpus;
  }
  int devices = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/dev", error)) {
    const std::string name = entry.path().filename().string();
    devices +=
        name.size() > 6 && name.rfind("nvidia", 0) == 0 &&
        std::all_of(name.begin() + 6, name.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  return devices;
}

Environment readEnvironment(const std::string& srun) {
  Environment environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string item = *entry;
    const size_t equals = item.find('=');
    if (equals != std::string::npos) {
      environment.vars.emplace(item.substr(0, equals), item.substr(equals + 1));
    }
  }
  environment.cores = usableCores();
  environment.isRoot = geteuid() == 0;
  environment.defaultWorker = defaultWorker();
  environment.isExecutable = [](const std::string& path) {
    std::error_code error;
    return fs::is_regular_file(path, error) && access(path.c_str(), X_OK) == 0;
  };
  environment.readFile = [](const std::string& path) -> std::optional<std::string> {
    std::error_code error;
    if (!fs::is_regular_file(path, error)) return std::nullopt;
    std::ifstream file(path, std::ios::binary);
    if (!file) return std::nullopt;
    std::string contents{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    if (file.bad()) return std::nullopt;
    return contents;
  };
  environment.gpuCount = countGpus;
  environment.srunMpiList = [srun]() -> std::optional<std::string> {
    return capture((shellQuote({srun}) + " --mpi=list 2>&1").c_str());
  };
  return environment;
}

// Execs the plan; returns only on failure, with the exit status to use.
int execPlan(const LaunchPlan& plan) {
  for (const auto& [name, value] : plan.setEnv) setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& arg : plan.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  execvp(argv[0], argv.data());
  const int error = errno;
  fmt::print(
      stderr, "eleanor-launch: cannot run '{}': {}{}\n", plan.argv[0], std::strerror(error),
      error == ENOENT ? " (is it installed and on PATH? or pass --mpirun / --srun PATH)" : "");
  fmt::print(stderr, "eleanor-launch: the command was: {}\n", commandLine(plan));
  return 127;
}

int run(int argc, char** argv) {
  CLI::App app(kDescription, "eleanor-launch");
  app.footer(kExamples);
  LaunchRequest request;
  bool dryRun = false;
  int ranks = 0;
  int gpusPerNode = 0;
  int cpusPerTask = 0;
  std::string launcher = "auto";
  auto* npOption =
      app.add_option("-n,--np", ranks,
                     "number of ranks (workers); -np works too. Default: the Slurm allocation's "
                     "tasks, else one per GPU")
          ->type_name("N");
  app.add_option("--hostfile", request.hostfile, "Open MPI hostfile: one 'host slots=N' a line")
      ->type_name("FILE");
  app.add_option("-H,--host", request.hosts, "hosts as host[:slots],... (no :slots means 1)")
      ->type_name("HOSTS");
  auto* gpusOption = app.add_option("--gpus-per-node", gpusPerNode,
                                    "GPUs per node, one rank each; 0: CPU run. Default: what "
                                    "Slurm allocated, else the GPUs found here")
                         ->type_name("G");
  auto* cpusOption = app.add_option("--cpus-per-task", cpusPerTask,
                                    "cores per rank (OMP_NUM_THREADS). Default: "
                                    "SLURM_CPUS_PER_TASK, else the cores / ranks per node")
                         ->type_name("C");
  app.add_option("--launcher", launcher,
                 "auto: srun inside a Slurm allocation when it offers pmix, mpirun elsewhere")
      ->check(CLI::IsMember({"auto", "mpirun", "srun"}))
      ->capture_default_str();
  app.add_flag("--dry-run", dryRun, "print the command on stdout and exit");
  app.add_option("--mpirun", request.mpirun, "the mpirun to run (Open MPI 4)")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_option("--srun", request.srun, "the srun to run inside a Slurm allocation")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_option("--worker", request.worker,
                 "eleanor-worker to start (default: the one next to eleanor-launch)")
      ->type_name("PATH");
  app.add_option("-x", request.exports,
                 "also export NAME (or set NAME=value) to every rank; repeatable")
      ->type_name("VAR[=value]")
      ->allow_extra_args(false);
  app.prefix_command();

  // mpirun users type -np; CLI11 would read it as -n with the value "p".
  std::vector<char*> args(argv, argv + argc);
  std::string npLong = "--np";
  for (int i = 1; i < argc && std::strcmp(args[i], "--") != 0; ++i) {
    if (std::strcmp(args[i], "-np") == 0) args[i] = npLong.data();
  }
  try {
    app.parse(argc, args.data());
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help
    throw UserError(fmt::format("{}; see eleanor-launch --help", error.what()));
  }

  std::vector<std::string> rest = app.remaining();
  if (!rest.empty() && rest.front() != "--") {
    throw UserError(fmt::format(
        "{} '{}' before --: launcher options go before --, the worker's arguments after it, "
        "e.g. eleanor-launch --np 2 -- run --config config/eleanor.yaml",
        rest.front().front() == '-' ? "unknown launcher option" : "unexpected argument",
        rest.front()));
  }
  if (!rest.empty()) request.workerArgs.assign(rest.begin() + 1, rest.end());
  if (npOption->count() > 0) request.ranks = ranks;
  if (gpusOption->count() > 0) request.gpusPerNode = gpusPerNode;
  if (cpusOption->count() > 0) request.cpusPerTask = cpusPerTask;
  request.launcher = launcher == "srun"     ? Launcher::kSrun
                     : launcher == "mpirun" ? Launcher::kMpirun
                                            : Launcher::kAuto;
  // Ranks on other nodes start in this directory too, but an absolute path also survives the
  // printed command being pasted elsewhere.
  if (!request.worker.empty()) {
    request.worker = fs::absolute(request.worker).lexically_normal().string();
  }

  const LaunchPlan plan = buildLaunchPlan(request, readEnvironment(request.srun));
  for (const std::string& note : plan.notes) fmt::print(stderr, "eleanor-launch: note: {}\n", note);
  if (dryRun) {
    fmt::print("{}\n", commandLine(plan));
    return 0;
  }
  fmt::print(stderr, "{}\n", commandLine(plan));
  const std::string command = request.workerArgs.empty() ? "" : request.workerArgs.front();
  if (command == "run" || command == "index") {
    // The pid stays ours through the exec; mpirun and srun forward SIGUSR1 to every rank.
    const int pid = static_cast<int>(getpid());
    fmt::print(stderr,
               "eleanor-launch: to stop this job early with every finished {} kept: kill -USR1 "
               "{} (then run the same command with --resume to finish it)\n",
               command == "run" ? "case" : "precedent", pid);
  }
  return execPlan(plan);
}

}  // namespace
}  // namespace eleanor

int main(int argc, char** argv) {
  try {
    return eleanor::run(argc, argv);
  } catch (const eleanor::UserError& error) {
    fmt::print(stderr, "eleanor-launch: error: {}\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    fmt::print(stderr, "eleanor-launch: internal error: {}\n", error.what());
    return 1;
  }
}
