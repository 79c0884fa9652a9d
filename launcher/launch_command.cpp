#include "launcher/launch_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <sstream>
#include <string_view>

#include "common/error.h"
#include "launcher/slurm_allocation.h"

namespace eleanor {
namespace {

constexpr const char* kNothingToRun =
    "nothing to run: put the worker's arguments after --, e.g. "
    "eleanor-launch --np 2 -- run --config config/eleanor.yaml";

// A host mpirun may start ranks on, with the slots (ranks it accepts without oversubscribing).
struct Node {
  std::string name;
  int slots = 1;
  bool slotsGiven = false;  // false: Open MPI counts the host's cores; we assumed ours
};

std::optional<int> parsePositive(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1) return std::nullopt;
  return value;
}

bool isHostName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// Open MPI merges repeated hosts by adding their slots; keep first-seen order, as it maps.
void addNode(std::vector<Node>& nodes, Node node) {
  auto it =
      std::find_if(nodes.begin(), nodes.end(), [&](const Node& n) { return n.name == node.name; });
  if (it == nodes.end()) {
    nodes.push_back(std::move(node));
    return;
  }
  it->slots += node.slots;
  it->slotsGiven = it->slotsGiven && node.slotsGiven;
}

// -H "host[:slots],...". Open MPI 4 gives a host without :slots one slot.
std::vector<Node> parseHosts(const std::string& spec) {
  std::vector<Node> nodes;
  std::string_view rest = spec;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view entry = rest.substr(0, comma);
    const size_t colon = entry.find(':');
    const std::string_view name = entry.substr(0, colon);
    const std::optional<int> slots =
        colon == std::string_view::npos ? 1 : parsePositive(entry.substr(colon + 1));
    if (!isHostName(name) || !slots) {
      throw UserError(fmt::format(
          "-H '{}': bad entry '{}': expected host[:slots] separated by commas, slots a whole "
          "number >= 1, e.g. -H node1:4,node2:4",
          spec, entry));
    }
    addNode(nodes, Node{std::string(name), *slots, true});
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return nodes;
}

// An Open MPI hostfile: "host [slots=N] [other=...]" per line, '#' starts a comment. A host
// without slots= gets its core count from Open MPI; we cannot see remote cores, so we assume
// `defaultSlots` (this machine's) and mark it as a guess.
std::vector<Node> parseHostfile(const std::string& path, const std::string& contents,
                                int defaultSlots) {
  std::vector<Node> nodes;
  std::istringstream lines(contents);
  std::string line;
  for (int lineNumber = 1; std::getline(lines, line); ++lineNumber) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string name;
    if (!(words >> name)) continue;
    Node node{name, defaultSlots, false};
    for (std::string word; words >> word;) {
      if (word.rfind("slots=", 0) != 0) continue;  // max_slots= etc.: mpirun's business
      const std::optional<int> slots = parsePositive(std::string_view(word).substr(6));
      if (!slots) {
        throw UserError(fmt::format(
            "hostfile {}:{}: bad '{}': slots must be a whole number >= 1, e.g. {} slots=4", path,
            lineNumber, word, name));
      }
      node.slots = *slots;
      node.slotsGiven = true;
    }
    addNode(nodes, std::move(node));
  }
  if (nodes.empty()) {
    throw UserError(fmt::format(
        "hostfile {} lists no hosts: write one host per line, e.g. node1 slots=4", path));
  }
  return nodes;
}

// Ranks on the busiest node under Open MPI's default by-slot mapping (fill each node's slots
// in order), which sizes OMP_NUM_THREADS. Errors early when the slots are all known and too
// few: mpirun would refuse anyway, with a long box of text.
int busiestNodeRanks(const std::vector<Node>& nodes, int ranks, const std::string& source) {
  int totalSlots = 0;
  for (const Node& node : nodes) totalSlots += node.slots;
  if (totalSlots < ranks) {
    const bool allGiven =
        std::all_of(nodes.begin(), nodes.end(), [](const Node& n) { return n.slotsGiven; });
    if (allGiven) {
      throw UserError(fmt::format(
          "--np {} needs {} slots but {} gives {}: raise the slots (host:slots in -H, slots=N "
          "in a hostfile) or lower --np",
          ranks, ranks, source, totalSlots));
    }
    // Some hosts have more cores than we assumed; mpirun knows. Spread evenly as a guess.
    const int nodeCount = static_cast<int>(nodes.size());
    return (ranks + nodeCount - 1) / nodeCount;
  }
  int busiest = 0;
  int left = ranks;
  for (const Node& node : nodes) {
    const int placed = std::min(node.slots, left);
    busiest = std::max(busiest, placed);
    left -= placed;
  }
  return busiest;
}

bool isVariableName(std::string_view name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
         });
}

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// OMP_NUM_THREADS set by the user, in the environment (non-empty) or with -x.
bool userSetsThreads(const LaunchRequest& request, const Environment& environment) {
  for (const std::string& item : request.exports) {
    if (item.substr(0, item.find('=')) == "OMP_NUM_THREADS") return true;
  }
  const auto omp = environment.vars.find("OMP_NUM_THREADS");
  return omp != environment.vars.end() && !omp->second.empty();
}

// The names the user's -x items set, after checking each: a valid name, and a bare NAME must
// be set here (there would be nothing to export).
std::set<std::string> userExportNames(const LaunchRequest& request,
                                      const Environment& environment) {
  std::set<std::string> names;
  for (const std::string& item : request.exports) {
    const std::string name = item.substr(0, item.find('='));
    if (!isVariableName(name)) {
      throw UserError(fmt::format(
          "-x '{}': expected NAME or NAME=value, NAME made of letters, digits and _", item));
    }
    if (item.find('=') == std::string::npos && !environment.vars.count(name)) {
      throw UserError(fmt::format(
          "-x {}: {} is not set in this environment, so there is nothing to export; set it or "
          "pass -x {}=value",
          name, name, name));
    }
    names.insert(name);
  }
  return names;
}

// The -x arguments: OMP_NUM_THREADS, then ELEANOR_*, NCCL_*, OPENBLAS_* (a chosen
// OPENBLAS_CORETYPE, say) and OMP_WAIT_POLICY from the environment (sorted),
// then the user's -x verbatim and in order (a name the user exports is not added for them).
// Open MPI forwards only what -x names to remote nodes, so anything a rank must see goes here.
std::vector<std::string> exportArgs(const LaunchRequest& request, const Environment& environment,
                                    int threadsPerRank) {
  const std::set<std::string> userNames = userExportNames(request, environment);
  std::vector<std::string> args;
  auto add = [&](const std::string& item) {
    args.emplace_back("-x");
    args.push_back(item);
  };
  if (!userNames.count("OMP_NUM_THREADS")) {
    // The user's own setting wins; forward it so remote ranks see it too.
    add(userSetsThreads(request, environment) ? std::string("OMP_NUM_THREADS")
                                              : fmt::format("OMP_NUM_THREADS={}", threadsPerRank));
  }
  for (const auto& [name, value] : environment.vars) {
    const bool forwarded = startsWith(name, "ELEANOR_") || startsWith(name, "NCCL_") ||
                           startsWith(name, "OPENBLAS_") || name == "OMP_WAIT_POLICY";
    if (forwarded && !userNames.count(name)) {
      add(name);
    }
  }
  for (const std::string& item : request.exports) add(item);
  return args;
}

// GPUs ranks started here can use: the machine's, limited by CUDA_VISIBLE_DEVICES.
int visibleGpus(const Environment& environment) {
  const int detected = environment.gpuCount ? std::max(0, environment.gpuCount()) : 0;
  const auto visible = environment.vars.find("CUDA_VISIBLE_DEVICES");
  if (detected == 0 || visible == environment.vars.end()) return detected;
  const std::string& list = visible->second;
  if (list.empty() || list == "-1" || list == "NoDevFiles") return 0;
  return std::min(detected, 1 + static_cast<int>(std::count(list.begin(), list.end(), ',')));
}

// One rank per GPU is the contract (the worker refuses more ranks than GPUs on a host).
void checkRanksFitGpus(int ranks, int gpusPerNode, int nodes) {
  if (gpusPerNode > 0 && ranks > gpusPerNode * nodes) {
    throw UserError(fmt::format(
        "--np {} is more than one rank per GPU: {} node(s) x {} GPU(s) takes at most {} ranks; "
        "lower --np, add nodes, or pass --gpus-per-node 0 for a CPU run",
        ranks, nodes, gpusPerNode, gpusPerNode * nodes));
  }
}

std::string mpiNames(const std::vector<std::string>& plugins) {
  if (plugins.empty()) return "nothing";
  std::string names;
  for (const std::string& plugin : plugins) names += (names.empty() ? "" : ", ") + plugin;
  return names;
}

bool isShellSafe(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("@%+=:,./_-").find(c) != std::string_view::npos;
}

std::string quoteOne(const std::string& arg, bool commandWord) {
  // A leading "NAME=..." word is an assignment to the shell, not a command: quote it.
  const bool safe = !arg.empty() && std::all_of(arg.begin(), arg.end(), isShellSafe) &&
                    !(commandWord && arg.find('=') != std::string::npos);
  if (safe) return arg;
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// mpirun on this machine or on the given hosts.
LaunchPlan mpirunPlan(const LaunchRequest& request, const Environment& environment,
                      const std::string& worker) {
  const int cores = std::max(1, environment.cores);
  std::vector<Node> nodes;
  std::string source;
  if (!request.hostfile.empty()) {
    const std::optional<std::string> contents = environment.readFile(request.hostfile);
    if (!contents) {
      throw UserError(fmt::format(
          "cannot read hostfile '{}' (missing or unreadable): pass an existing file with one "
          "host per line, e.g. node1 slots=4",
          request.hostfile));
    }
    nodes = parseHostfile(request.hostfile, *contents, cores);
    source = "hostfile " + request.hostfile;
  } else if (!request.hosts.empty()) {
    nodes = parseHosts(request.hosts);
    source = "-H " + request.hosts;
  }
  const bool local = nodes.empty();
  const int nodeCount = local ? 1 : static_cast<int>(nodes.size());

  LaunchPlan plan;
  const int gpus = request.gpusPerNode ? *request.gpusPerNode : visibleGpus(environment);
  if (!request.ranks && gpus == 0) {
    throw UserError(
        "--np N is needed: no GPUs here to start one rank per GPU and no Slurm allocation to "
        "take the task count from, e.g. eleanor-launch --np 4 -- run --config job.yaml");
  }
  const int ranks = request.ranks ? *request.ranks : gpus * nodeCount;
  checkRanksFitGpus(ranks, gpus, nodeCount);
  int ranksPerNode = local ? ranks : busiestNodeRanks(nodes, ranks, source);
  // With GPUs, ranks are mapped G per node (ppr), whatever the slots, so each gets a GPU.
  const std::string pprMap = gpus > 0 ? fmt::format("ppr:{}:node", gpus) : "";
  if (gpus > 0) {
    ranksPerNode = std::min(gpus, ranks);
    if (!request.gpusPerNode) {
      plan.notes.push_back(fmt::format(
          "{} GPU(s) here: one rank per GPU (--map-by {}){}; pass --gpus-per-node 0 for a CPU "
          "run",
          gpus, pprMap, local ? "" : ", assuming every host has as many"));
    }
  }

  std::vector<std::string>& argv = plan.argv;
  argv = {request.mpirun, "-np", std::to_string(ranks)};
  if (!request.hostfile.empty()) argv.insert(argv.end(), {"--hostfile", request.hostfile});
  if (!request.hosts.empty()) argv.insert(argv.end(), {"-H", request.hosts});

  // Open MPI refuses to start as root without this (containers often run as root). The
  // environment pair OMPI_ALLOW_RUN_AS_ROOT=1 + OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 does the same,
  // but the flag keeps the printed command self-contained; both are Open MPI only.
  if (environment.isRoot) argv.emplace_back("--allow-run-as-root");

  // Local slots are this machine's cores; past them mpirun refuses unless told to oversubscribe.
  // With hosts given, the slots are the user's statement and mpirun enforces them.
  const bool oversubscribed = local && ranks > cores;
  const int threadsPerRank =
      request.cpusPerTask ? *request.cpusPerTask : std::max(1, cores / ranksPerNode);
  if (local && !oversubscribed && threadsPerRank * ranksPerNode > cores) {
    throw UserError(
        fmt::format("--cpus-per-task {} x {} ranks needs {} cores but this machine has {}: lower "
                    "--cpus-per-task or --np",
                    threadsPerRank, ranksPerNode, threadsPerRank * ranksPerNode, cores));
  }

  // Binding. Oversubscribed: none, since ranks sharing cores must be free to move (Open MPI
  // does the same by default). Local and not oversubscribed: each rank owns threadsPerRank
  // cores (PE=n binds it to n cores), so its OpenMP/LibTorch threads keep their caches and do
  // not pile onto one core as a plain --bind-to core would make them. Hosts given: none; we do
  // not know the remote core counts, and a PE binding that does not fit makes mpirun refuse to
  // start, while unbound ranks only lose some locality (Slurm launches bind with srun's exact
  // per-node CPU counts).
  if (oversubscribed) {
    if (gpus > 0) argv.insert(argv.end(), {"--map-by", pprMap});
    argv.insert(argv.end(), {"--oversubscribe", "--bind-to", "none"});
    plan.notes.push_back(
        fmt::format("{} ranks on {} cores: oversubscribing (--oversubscribe), ranks unbound and "
                    "single-threaded; fine for testing, no faster than --np {}",
                    ranks, cores, cores));
  } else if (!local) {
    if (gpus > 0) argv.insert(argv.end(), {"--map-by", pprMap});
    argv.insert(argv.end(), {"--bind-to", "none"});
  } else if (threadsPerRank > 1) {
    argv.insert(argv.end(),
                {"--map-by", fmt::format("{}:PE={}", gpus > 0 ? pprMap : "slot", threadsPerRank),
                 "--bind-to", "core"});
  } else {
    if (gpus > 0) argv.insert(argv.end(), {"--map-by", pprMap});
    argv.insert(argv.end(), {"--bind-to", "core"});
  }

  const std::vector<std::string> exports = exportArgs(request, environment, threadsPerRank);
  if (!local && !request.cpusPerTask && !userSetsThreads(request, environment)) {
    plan.notes.push_back(fmt::format(
        "OMP_NUM_THREADS={} assumes the hosts have {} cores like this one; set OMP_NUM_THREADS "
        "or pass --cpus-per-task to override",
        threadsPerRank, cores));
  }
  argv.insert(argv.end(), exports.begin(), exports.end());
  argv.push_back(worker);
  argv.insert(argv.end(), request.workerArgs.begin(), request.workerArgs.end());
  return plan;
}

// Ranks, GPUs and cores per rank inside a Slurm allocation, from the request and what the
// allocation says.
struct SlurmLayout {
  int ranks = 1;
  int gpusPerNode = 0;
  int ranksPerNode = 1;  // on the busiest node
  int cpusPerTask = 1;
};

SlurmLayout slurmLayout(const LaunchRequest& request, const Environment& environment,
                        const SlurmAllocation& allocation, std::vector<std::string>& notes) {
  SlurmLayout layout;
  // Slurm's word on GPUs, not the machine's: srun --gpus-per-node fails in an allocation
  // that holds none.
  layout.gpusPerNode = request.gpusPerNode.value_or(allocation.gpusPerNode.value_or(0));
  if (!request.gpusPerNode && !allocation.gpusPerNode) {
    if (const int here = visibleGpus(environment); here > 0) {
      notes.push_back(fmt::format(
          "this node shows {} GPU(s) but allocation {} asked for none: starting one rank per "
          "task; ask sbatch for --gpus-per-node={} to run one rank per GPU",
          here, allocation.jobId, here));
    }
  }
  if (!request.ranks && !allocation.tasks && layout.gpusPerNode == 0) {
    throw UserError(fmt::format(
        "--np N is needed: allocation {} does not say how many tasks (SLURM_NTASKS is unset); "
        "pass --np, or ask sbatch/salloc for --ntasks or --ntasks-per-node",
        allocation.jobId));
  }
  layout.ranks = request.ranks      ? *request.ranks
                 : allocation.tasks ? *allocation.tasks
                                    : layout.gpusPerNode * allocation.nodes;
  checkRanksFitGpus(layout.ranks, layout.gpusPerNode, allocation.nodes);
  if (request.ranks && allocation.tasks && *request.ranks > *allocation.tasks) {
    notes.push_back(fmt::format(
        "--np {} is more than the {} tasks allocation {} was made for: srun may wait or refuse",
        *request.ranks, *allocation.tasks, allocation.jobId));
  }
  layout.ranksPerNode =
      allocation.tasksPerNode.value_or((layout.ranks + allocation.nodes - 1) / allocation.nodes);
  if (layout.gpusPerNode > 0)
    layout.ranksPerNode = std::min(layout.ranksPerNode, layout.gpusPerNode);
  layout.ranksPerNode = std::max(1, std::min(layout.ranksPerNode, layout.ranks));
  const int cpusOnNode = allocation.cpusOnNode.value_or(std::max(1, environment.cores));
  layout.cpusPerTask = request.cpusPerTask      ? *request.cpusPerTask
                       : allocation.cpusPerTask ? *allocation.cpusPerTask
                                                : std::max(1, cpusOnNode / layout.ranksPerNode);
  return layout;
}

// srun inside the allocation: one task per rank, each with its cores and GPUs.
LaunchPlan srunPlan(const LaunchRequest& request, const Environment& environment,
                    const std::string& worker, const SlurmLayout& layout,
                    const std::string& mpiPlugin, std::vector<std::string> notes) {
  LaunchPlan plan;
  plan.notes = std::move(notes);
  std::vector<std::string>& argv = plan.argv;
  argv = {request.srun, "--mpi=" + mpiPlugin, fmt::format("--ntasks={}", layout.ranks)};
  if (layout.gpusPerNode > 0) {
    // One rank per GPU on each node, each task given its node's GPUs to pick from and bound to
    // the cores nearest them.
    argv.insert(argv.end(),
                {fmt::format("--ntasks-per-node={}", layout.ranksPerNode),
                 fmt::format("--gpus-per-node={}", layout.gpusPerNode), "--gpu-bind=closest"});
  }
  // Since Slurm 22.05 srun no longer inherits sbatch's --cpus-per-task: always say it.
  // --kill-on-bad-exit: a rank that dies ends the step instead of leaving the others waiting
  // in a collective until the timeout. --export=ALL: every task gets this environment
  // (NCCL_*, ELEANOR_*, OPENBLAS_*, OMP_NUM_THREADS) even where sbatch --export=NONE narrowed
  // the default.
  argv.insert(argv.end(), {fmt::format("--cpus-per-task={}", layout.cpusPerTask),
                           "--kill-on-bad-exit=1", "--export=ALL"});
  userExportNames(request, environment);
  if (!userSetsThreads(request, environment)) {
    plan.setEnv["OMP_NUM_THREADS"] = std::to_string(layout.cpusPerTask);
  }
  for (const std::string& item : request.exports) {
    const size_t equals = item.find('=');
    if (equals != std::string::npos) plan.setEnv[item.substr(0, equals)] = item.substr(equals + 1);
  }
  argv.push_back(worker);
  argv.insert(argv.end(), request.workerArgs.begin(), request.workerArgs.end());
  return plan;
}

// mpirun inside the allocation: Open MPI reads the nodes and slots from Slurm and starts its
// daemons with srun, so no hosts and no oversubscription. Unbound: mpirun does not know how
// many cores each task was given.
LaunchPlan mpirunInAllocationPlan(const LaunchRequest& request, const Environment& environment,
                                  const std::string& worker, const SlurmLayout& layout,
                                  std::vector<std::string> notes) {
  LaunchPlan plan;
  plan.notes = std::move(notes);
  std::vector<std::string>& argv = plan.argv;
  argv = {request.mpirun, "-np", std::to_string(layout.ranks)};
  if (environment.isRoot) argv.emplace_back("--allow-run-as-root");
  if (layout.gpusPerNode > 0) {
    argv.insert(argv.end(), {"--map-by", fmt::format("ppr:{}:node", layout.gpusPerNode)});
  }
  argv.insert(argv.end(), {"--bind-to", "none"});
  const std::vector<std::string> exports = exportArgs(request, environment, layout.cpusPerTask);
  argv.insert(argv.end(), exports.begin(), exports.end());
  argv.push_back(worker);
  argv.insert(argv.end(), request.workerArgs.begin(), request.workerArgs.end());
  return plan;
}

}  // namespace

LaunchPlan buildLaunchPlan(const LaunchRequest& request, const Environment& environment) {
  if (request.ranks && *request.ranks < 1) {
    throw UserError(fmt::format("--np must be at least 1, got {}", *request.ranks));
  }
  if (request.gpusPerNode && *request.gpusPerNode < 0) {
    throw UserError(
        fmt::format("--gpus-per-node must be 0 (CPU) or more, got {}", *request.gpusPerNode));
  }
  if (request.cpusPerTask && *request.cpusPerTask < 1) {
    throw UserError(
        fmt::format("--cpus-per-task must be at least 1, got {}", *request.cpusPerTask));
  }
  if (request.workerArgs.empty()) throw UserError(kNothingToRun);
  const bool hostsGiven = !request.hostfile.empty() || !request.hosts.empty();
  if (!request.hostfile.empty() && !request.hosts.empty()) {
    throw UserError("--hostfile and -H both given: use one of them");
  }
  const std::string worker = request.worker.empty() ? environment.defaultWorker : request.worker;
  if (worker.empty()) {
    throw UserError(
        "cannot tell where eleanor-launch lives, so eleanor-worker is not found next to it; "
        "pass --worker PATH");
  }
  if (!environment.isExecutable(worker)) {
    throw UserError(fmt::format(
        "worker not found: '{}' is not an executable file; build eleanor-worker next to "
        "eleanor-launch or pass --worker PATH",
        worker));
  }

  const std::optional<SlurmAllocation> allocation = readSlurmAllocation(environment.vars);
  if (request.launcher == Launcher::kSrun) {
    if (!allocation) {
      throw UserError(
          "--launcher srun needs a Slurm allocation and SLURM_JOB_ID is not set: submit with "
          "sbatch (slurm/eleanor.sbatch) or run inside salloc");
    }
    if (hostsGiven) {
      throw UserError(
          "--hostfile and -H are mpirun's: srun runs on the allocation's nodes; drop them or "
          "pass --launcher mpirun");
    }
  }
  if (allocation && allocation->stepTasks > 1) {
    throw UserError(fmt::format(
        "eleanor-launch is running as one of {} tasks of an srun step (SLURM_STEP_NUM_TASKS), "
        "so each would start the whole job: run it once, from the batch script or the salloc "
        "shell, not under srun",
        allocation->stepTasks));
  }
  if (!allocation || hostsGiven) {
    LaunchPlan plan = mpirunPlan(request, environment, worker);
    if (allocation) {
      plan.notes.push_back(fmt::format(
          "inside Slurm allocation {} with hosts given: mpirun on those hosts", allocation->jobId));
    }
    return plan;
  }

  std::vector<std::string> notes;
  const SlurmLayout layout = slurmLayout(request, environment, *allocation, notes);
  if (request.launcher == Launcher::kMpirun) {
    return mpirunInAllocationPlan(request, environment, worker, layout, std::move(notes));
  }
  const std::optional<std::string> listed =
      environment.srunMpiList ? environment.srunMpiList() : std::nullopt;
  const std::vector<std::string> plugins =
      listed ? parseSrunMpiList(*listed) : std::vector<std::string>{};
  if (const std::optional<std::string> pmix = pmixPlugin(plugins)) {
    return srunPlan(request, environment, worker, layout, *pmix, std::move(notes));
  }
  const std::string why =
      listed ? fmt::format(
                   "srun --mpi=list offers {} but no pmix, which Open MPI ranks started "
                   "by srun need",
                   mpiNames(plugins))
             : fmt::format("'{} --mpi=list' could not be run", request.srun);
  if (request.launcher == Launcher::kSrun) {
    throw UserError(
        fmt::format("--launcher srun: {}; leave --launcher out to use mpirun inside "
                    "the allocation",
                    why));
  }
  notes.push_back(why + ": using mpirun inside the allocation");
  return mpirunInAllocationPlan(request, environment, worker, layout, std::move(notes));
}

std::string shellQuote(const std::vector<std::string>& args) {
  std::string line;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) line += ' ';
    line += quoteOne(args[i], i == 0);
  }
  return line;
}

std::string commandLine(const LaunchPlan& plan) {
  std::string line;
  for (const auto& [name, value] : plan.setEnv) line += name + "=" + quoteOne(value, false) + " ";
  return line + shellQuote(plan.argv);
}

}  // namespace eleanor
