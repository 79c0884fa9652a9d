#include "launcher/launch_command.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"

namespace eleanor {
namespace {

using Args = std::vector<std::string>;

const std::string kWorker = "/opt/eleanor/bin/eleanor-worker";
const Args kWorkerArgs = {"run", "--config", "job.yaml"};

// argv = the launcher's flags + the worker and its arguments.
Args withWorker(Args flags, const std::string& worker = kWorker) {
  flags.push_back(worker);
  flags.insert(flags.end(), kWorkerArgs.begin(), kWorkerArgs.end());
  return flags;
}

// `srun --mpi=list` as Slurm 22.05 (Debian 12) prints it.
const std::string kSrunWithPmix =
    "MPI plugin types are...\n\tpmix\n\tnone\n\tcray_shasta\n\tpmi2\n"
    "specific pmix plugin versions available: pmix_v4\n";
const std::string kSrunWithoutPmix = "MPI plugin types are...\n\tnone\n\tpmi2\n";

class LaunchCommandTest : public ::testing::Test {
 protected:
  // A machine with `cores` cores, `gpus` GPUs, a built worker and the files in files_; srun
  // answers --mpi=list with srunList_ (nullopt: no srun).
  Environment machine(int cores, bool root = false, int gpus = 0) {
    Environment environment;
    environment.cores = cores;
    environment.isRoot = root;
    environment.defaultWorker = kWorker;
    environment.isExecutable = [this](const std::string& path) {
      return executables_.count(path) > 0;
    };
    environment.readFile = [this](const std::string& path) -> std::optional<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return std::nullopt;
      return it->second;
    };
    environment.gpuCount = [gpus] { return gpus; };
    environment.srunMpiList = [this] {
      ++srunAsked_;
      return srunList_;
    };
    return environment;
  }

  // This machine as the batch script of an sbatch job sees it: the test sets the variables.
  Environment inAllocation(std::map<std::string, std::string> slurmVars, bool root = false,
                           int gpus = 0) {
    Environment environment = machine(2, root, gpus);
    environment.vars = std::move(slurmVars);
    environment.vars.emplace("SLURM_JOB_ID", "4242");
    return environment;
  }

  static LaunchRequest request(std::optional<int> ranks, const std::string& hostfile = "") {
    LaunchRequest request;
    request.ranks = ranks;
    request.hostfile = hostfile;
    request.workerArgs = kWorkerArgs;
    return request;
  }

  // The UserError message buildLaunchPlan throws, or "<no error>".
  static std::string errorOf(const LaunchRequest& request, const Environment& environment) {
    try {
      buildLaunchPlan(request, environment);
    } catch (const UserError& error) {
      return error.what();
    }
    return "<no error>";
  }

  std::set<std::string> executables_ = {kWorker, "/custom/worker"};
  std::map<std::string, std::string> files_;
  std::optional<std::string> srunList_ = kSrunWithPmix;
  int srunAsked_ = 0;
};

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

TEST_F(LaunchCommandTest, TwoLocalRanksOnTwoCoresBindEachToACore) {
  const LaunchPlan plan = buildLaunchPlan(request(2), machine(2));
  EXPECT_EQ(plan.argv,
            withWorker({"mpirun", "-np", "2", "--bind-to", "core", "-x", "OMP_NUM_THREADS=1"}));
  EXPECT_TRUE(plan.setEnv.empty());
  EXPECT_TRUE(plan.notes.empty());
}

TEST_F(LaunchCommandTest, RootAddsAllowRunAsRoot) {
  EXPECT_EQ(buildLaunchPlan(request(2), machine(2, /*root=*/true)).argv,
            withWorker({"mpirun", "-np", "2", "--allow-run-as-root", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=1"}));
}

TEST_F(LaunchCommandTest, MoreLocalRanksThanCoresOversubscribesUnbound) {
  const LaunchPlan plan = buildLaunchPlan(request(4), machine(2));
  EXPECT_EQ(plan.argv, withWorker({"mpirun", "-np", "4", "--oversubscribe", "--bind-to", "none",
                                   "-x", "OMP_NUM_THREADS=1"}));
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_CONTAINS(plan.notes[0], "4 ranks on 2 cores: oversubscribing");
}

TEST_F(LaunchCommandTest, LocalRanksShareTheCoresForTheirThreads) {
  EXPECT_EQ(buildLaunchPlan(request(2), machine(8)).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "slot:PE=4", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=4"}));
  // 8 / 3 rounds down: PE x ranks must fit in the cores or mpirun refuses.
  EXPECT_EQ(buildLaunchPlan(request(3), machine(8)).argv,
            withWorker({"mpirun", "-np", "3", "--map-by", "slot:PE=2", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=2"}));
}

TEST_F(LaunchCommandTest, HostfileWithSlotsSizesThreadsByTheBusiestNode) {
  files_["hosts.txt"] = "# two nodes\nnode1 slots=4\n\nnode2 slots=4 max_slots=8  # spare\n";
  const LaunchPlan plan = buildLaunchPlan(request(6, "hosts.txt"), machine(16));
  EXPECT_EQ(plan.argv, withWorker({"mpirun", "-np", "6", "--hostfile", "hosts.txt", "--bind-to",
                                   "none", "-x", "OMP_NUM_THREADS=4"}));
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_CONTAINS(plan.notes[0], "assumes the hosts have 16 cores");

  // Two ranks fill node1's slots first (by-slot mapping), so node1 runs both.
  EXPECT_EQ(buildLaunchPlan(request(2, "hosts.txt"), machine(16)).argv,
            withWorker({"mpirun", "-np", "2", "--hostfile", "hosts.txt", "--bind-to", "none", "-x",
                        "OMP_NUM_THREADS=8"}));
}

TEST_F(LaunchCommandTest, HostfileWithoutSlotsAssumesThisMachinesCores) {
  files_["hosts.txt"] = "node1\nnode2\n";
  EXPECT_EQ(buildLaunchPlan(request(4, "hosts.txt"), machine(4)).argv,
            withWorker({"mpirun", "-np", "4", "--hostfile", "hosts.txt", "--bind-to", "none", "-x",
                        "OMP_NUM_THREADS=1"}));
  // The remote nodes may have more cores than this one: leave the slot check to mpirun.
  EXPECT_EQ(buildLaunchPlan(request(12, "hosts.txt"), machine(4)).argv,
            withWorker({"mpirun", "-np", "12", "--hostfile", "hosts.txt", "--bind-to", "none", "-x",
                        "OMP_NUM_THREADS=1"}));
}

TEST_F(LaunchCommandTest, BadHostfilesAreRejectedWithTheLine) {
  LaunchRequest missing = request(2);
  missing.hostfile = "missing.txt";
  EXPECT_CONTAINS(errorOf(missing, machine(2)), "cannot read hostfile 'missing.txt'");

  files_["empty.txt"] = "# nothing yet\n\n";
  LaunchRequest empty = request(2);
  empty.hostfile = "empty.txt";
  EXPECT_CONTAINS(errorOf(empty, machine(2)), "hostfile empty.txt lists no hosts");

  files_["bad.txt"] = "node1 slots=2\nnode2 slots=zero\n";
  LaunchRequest bad = request(2);
  bad.hostfile = "bad.txt";
  EXPECT_CONTAINS(errorOf(bad, machine(2)), "hostfile bad.txt:2: bad 'slots=zero'");

  files_["small.txt"] = "node1 slots=4\nnode2 slots=4\n";
  LaunchRequest tooMany = request(9);
  tooMany.hostfile = "small.txt";
  EXPECT_CONTAINS(errorOf(tooMany, machine(2)),
                  "--np 9 needs 9 slots but hostfile small.txt gives 8");
  tooMany.ranks = 8;
  EXPECT_EQ(errorOf(tooMany, machine(2)), "<no error>");
}

TEST_F(LaunchCommandTest, HostListIsPassedAsGiven) {
  LaunchRequest hosts = request(4);
  hosts.hosts = "node1:2,node2:2";
  EXPECT_EQ(buildLaunchPlan(hosts, machine(8)).argv,
            withWorker({"mpirun", "-np", "4", "-H", "node1:2,node2:2", "--bind-to", "none", "-x",
                        "OMP_NUM_THREADS=4"}));

  // No :slots means one slot (Open MPI 4); a repeated host adds up its slots.
  hosts.hosts = "node1,node2";
  hosts.ranks = 2;
  EXPECT_EQ(buildLaunchPlan(hosts, machine(8)).argv,
            withWorker({"mpirun", "-np", "2", "-H", "node1,node2", "--bind-to", "none", "-x",
                        "OMP_NUM_THREADS=8"}));
  hosts.hosts = "node1,node1:2";
  hosts.ranks = 3;
  EXPECT_EQ(buildLaunchPlan(hosts, machine(6)).argv,
            withWorker({"mpirun", "-np", "3", "-H", "node1,node1:2", "--bind-to", "none", "-x",
                        "OMP_NUM_THREADS=2"}));
}

TEST_F(LaunchCommandTest, BadHostListsAreRejected) {
  for (const auto& [spec, entry] :
       std::vector<std::pair<std::string, std::string>>{{"node1:,node2", "'node1:'"},
                                                        {"node1:0", "'node1:0'"},
                                                        {"node1:2:3", "'node1:2:3'"},
                                                        {"node1:x", "'node1:x'"},
                                                        {",node1", "''"},
                                                        {"node1,", "''"},
                                                        {"node 1", "'node 1'"}}) {
    LaunchRequest hosts = request(1);
    hosts.hosts = spec;
    EXPECT_EQ(errorOf(hosts, machine(2)),
              "-H '" + spec + "': bad entry " + entry +
                  ": expected host[:slots] separated by commas, slots a whole number >= 1, e.g. "
                  "-H node1:4,node2:4");
  }
  LaunchRequest tooMany = request(3);
  tooMany.hosts = "node1,node2";
  EXPECT_CONTAINS(errorOf(tooMany, machine(8)), "--np 3 needs 3 slots but -H node1,node2 gives 2");

  LaunchRequest both = request(2);
  both.hosts = "node1:2";
  both.hostfile = "hosts.txt";
  EXPECT_CONTAINS(errorOf(both, machine(2)), "--hostfile and -H both given");
}

TEST_F(LaunchCommandTest, UserThreadCountIsRespected) {
  Environment environment = machine(8);
  environment.vars["OMP_NUM_THREADS"] = "3";
  EXPECT_EQ(buildLaunchPlan(request(2), environment).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "slot:PE=4", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS"}));

  LaunchRequest explicitThreads = request(2);
  explicitThreads.exports = {"OMP_NUM_THREADS=6"};
  EXPECT_EQ(buildLaunchPlan(explicitThreads, machine(8)).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "slot:PE=4", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=6"}));

  // An empty value means "unset" to OpenMP: compute one.
  environment.vars["OMP_NUM_THREADS"] = "";
  EXPECT_EQ(buildLaunchPlan(request(2), environment).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "slot:PE=4", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=4"}));

  // With hosts, the user's own value silences the "assumes the hosts have" note.
  LaunchRequest hosts = request(2);
  hosts.hosts = "node1,node2";
  environment.vars["OMP_NUM_THREADS"] = "3";
  EXPECT_TRUE(buildLaunchPlan(hosts, environment).notes.empty());
}

TEST_F(LaunchCommandTest, ExportsEleanorNcclAndOpenBlasVariablesOnly) {
  Environment environment = machine(2);
  environment.vars = {{"NCCL_IB_HCA", "mlx5"},
                      {"ELEANOR_LOG_LEVEL", "debug"},
                      {"NCCL_DEBUG", "INFO"},
                      {"HOME", "/root"},
                      {"MY_ELEANOR_X", "1"},
                      {"NCCLX", "1"},
                      {"eleanor_lower", "1"},
                      {"ELEANOR", "1"},
                      {"OPENBLAS_CORETYPE", "Haswell"},
                      {"OPENBLASX", "1"},
                      {"OMP_WAIT_POLICY", "active"},
                      {"OMP_PROC_BIND", "true"},
                      {"CUDA_VISIBLE_DEVICES", "0"}};
  EXPECT_EQ(buildLaunchPlan(request(2), environment).argv,
            withWorker({"mpirun", "-np", "2", "--bind-to", "core", "-x", "OMP_NUM_THREADS=1", "-x",
                        "ELEANOR_LOG_LEVEL", "-x", "NCCL_DEBUG", "-x", "NCCL_IB_HCA", "-x",
                        "OMP_WAIT_POLICY", "-x", "OPENBLAS_CORETYPE"}));
}

TEST_F(LaunchCommandTest, UserExportsComeLastAndReplaceAutomaticOnes) {
  Environment environment = machine(2);
  environment.vars = {
      {"ELEANOR_LOG_LEVEL", "debug"}, {"ELEANOR_SEED", "1"}, {"LD_LIBRARY_PATH", "/opt/torch/lib"}};
  LaunchRequest exports = request(2);
  exports.exports = {"LD_LIBRARY_PATH", "FOO=two words", "ELEANOR_SEED=7"};
  EXPECT_EQ(buildLaunchPlan(exports, environment).argv,
            withWorker({"mpirun", "-np", "2", "--bind-to", "core", "-x", "OMP_NUM_THREADS=1", "-x",
                        "ELEANOR_LOG_LEVEL", "-x", "LD_LIBRARY_PATH", "-x", "FOO=two words", "-x",
                        "ELEANOR_SEED=7"}));
}

TEST_F(LaunchCommandTest, BadExportsAreRejected) {
  LaunchRequest exports = request(2);
  exports.exports = {"NOT_SET_HERE"};
  EXPECT_EQ(errorOf(exports, machine(2)),
            "-x NOT_SET_HERE: NOT_SET_HERE is not set in this environment, so there is nothing "
            "to export; set it or pass -x NOT_SET_HERE=value");
  for (const std::string bad : {"1ABC", "=value", "A-B=1", ""}) {
    exports.exports = {bad};
    EXPECT_CONTAINS(errorOf(exports, machine(2)), "-x '" + bad + "': expected NAME or NAME=value");
  }
}

TEST_F(LaunchCommandTest, BadRankCountsAndEmptyWorkerArgsAreRejected) {
  EXPECT_EQ(errorOf(request(0), machine(2)), "--np must be at least 1, got 0");
  EXPECT_EQ(errorOf(request(-3), machine(2)), "--np must be at least 1, got -3");
  LaunchRequest nothing = request(2);
  nothing.workerArgs.clear();
  EXPECT_EQ(errorOf(nothing, machine(2)),
            "nothing to run: put the worker's arguments after --, e.g. eleanor-launch --np 2 -- "
            "run --config config/eleanor.yaml");
  // The builder keeps no state: a good request right after still works.
  EXPECT_EQ(errorOf(request(1), machine(2)), "<no error>");
}

TEST_F(LaunchCommandTest, WorkerAndMpirunCanBeChosen) {
  LaunchRequest chosen = request(1);
  chosen.worker = "/custom/worker";
  chosen.mpirun = "/opt/openmpi/bin/mpirun";
  EXPECT_EQ(buildLaunchPlan(chosen, machine(1)).argv,
            withWorker({"/opt/openmpi/bin/mpirun", "-np", "1", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=1"},
                       "/custom/worker"));

  chosen.worker = "/nope/eleanor-worker";
  EXPECT_CONTAINS(errorOf(chosen, machine(1)),
                  "worker not found: '/nope/eleanor-worker' is not an executable file");
  executables_.clear();
  EXPECT_CONTAINS(errorOf(request(1), machine(1)), "worker not found: '" + kWorker + "'");
  Environment nowhere = machine(1);
  nowhere.defaultWorker.clear();
  EXPECT_CONTAINS(errorOf(request(1), nowhere), "pass --worker PATH");
}

TEST_F(LaunchCommandTest, NoRankCountAndNoGpusIsAnError) {
  EXPECT_EQ(errorOf(request(std::nullopt), machine(8)),
            "--np N is needed: no GPUs here to start one rank per GPU and no Slurm allocation to "
            "take the task count from, e.g. eleanor-launch --np 4 -- run --config job.yaml");
  LaunchRequest cpus = request(2);
  cpus.cpusPerTask = 5;
  EXPECT_EQ(errorOf(cpus, machine(8)),
            "--cpus-per-task 5 x 2 ranks needs 10 cores but this machine has 8: lower "
            "--cpus-per-task or --np");
  cpus.cpusPerTask = 3;
  EXPECT_EQ(buildLaunchPlan(cpus, machine(8)).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "slot:PE=3", "--bind-to", "core", "-x",
                        "OMP_NUM_THREADS=3"}));
  cpus.cpusPerTask = 0;
  EXPECT_EQ(errorOf(cpus, machine(8)), "--cpus-per-task must be at least 1, got 0");
  LaunchRequest gpus = request(2);
  gpus.gpusPerNode = -1;
  EXPECT_EQ(errorOf(gpus, machine(8)), "--gpus-per-node must be 0 (CPU) or more, got -1");
}

// ---- GPUs outside Slurm: one rank per GPU, mapped G per node ----

TEST_F(LaunchCommandTest, LocalGpusGetOneRankEachByDefault) {
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt), machine(16, false, 4));
  EXPECT_EQ(plan.argv, withWorker({"mpirun", "-np", "4", "--map-by", "ppr:4:node:PE=4", "--bind-to",
                                   "core", "-x", "OMP_NUM_THREADS=4"}));
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_EQ(plan.notes[0],
            "4 GPU(s) here: one rank per GPU (--map-by ppr:4:node); pass --gpus-per-node 0 for a "
            "CPU run");

  // Fewer ranks than GPUs: each still gets its share of the cores.
  EXPECT_EQ(buildLaunchPlan(request(2), machine(16, false, 4)).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "ppr:4:node:PE=8", "--bind-to", "core",
                        "-x", "OMP_NUM_THREADS=8"}));
  // More ranks than GPUs would make ranks share a GPU (the worker refuses): say so here.
  EXPECT_EQ(errorOf(request(5), machine(16, false, 4)),
            "--np 5 is more than one rank per GPU: 1 node(s) x 4 GPU(s) takes at most 4 ranks; "
            "lower --np, add nodes, or pass --gpus-per-node 0 for a CPU run");
}

TEST_F(LaunchCommandTest, CudaVisibleDevicesLimitsTheGpus) {
  Environment environment = machine(8, false, 4);
  environment.vars["CUDA_VISIBLE_DEVICES"] = "2,3";
  EXPECT_EQ(buildLaunchPlan(request(std::nullopt), environment).argv,
            withWorker({"mpirun", "-np", "2", "--map-by", "ppr:2:node:PE=4", "--bind-to", "core",
                        "-x", "OMP_NUM_THREADS=4"}));
  environment.vars["CUDA_VISIBLE_DEVICES"] = "";
  EXPECT_CONTAINS(errorOf(request(std::nullopt), environment), "--np N is needed");
}

TEST_F(LaunchCommandTest, GpusPerNodeZeroIsACpuRun) {
  LaunchRequest cpu = request(2);
  cpu.gpusPerNode = 0;
  const LaunchPlan plan = buildLaunchPlan(cpu, machine(2, false, 8));
  EXPECT_EQ(plan.argv,
            withWorker({"mpirun", "-np", "2", "--bind-to", "core", "-x", "OMP_NUM_THREADS=1"}));
  EXPECT_TRUE(plan.notes.empty());
}

TEST_F(LaunchCommandTest, HostfileWithGpusMapsOneRankPerGpuOnEachNode) {
  files_["hosts.txt"] = "gpu1 slots=8\ngpu2 slots=8\n";
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt, "hosts.txt"), machine(32, true, 4));
  EXPECT_EQ(plan.argv,
            withWorker({"mpirun", "-np", "8", "--hostfile", "hosts.txt", "--allow-run-as-root",
                        "--map-by", "ppr:4:node", "--bind-to", "none", "-x", "OMP_NUM_THREADS=8"}));
  ASSERT_EQ(plan.notes.size(), 2u);
  EXPECT_CONTAINS(plan.notes[0], "one rank per GPU (--map-by ppr:4:node), assuming every host");
  EXPECT_CONTAINS(plan.notes[1], "assumes the hosts have 32 cores");
  EXPECT_CONTAINS(errorOf(request(9, "hosts.txt"), machine(32, true, 4)),
                  "2 node(s) x 4 GPU(s) takes at most 8 ranks");
}

TEST_F(LaunchCommandTest, HostListWithGpusPerNodeGiven) {
  LaunchRequest hosts = request(std::nullopt);
  hosts.hosts = "gpu1:2,gpu2:2";
  hosts.gpusPerNode = 2;
  hosts.cpusPerTask = 6;
  const LaunchPlan plan = buildLaunchPlan(hosts, machine(4));  // no GPUs on the launch node
  EXPECT_EQ(plan.argv, withWorker({"mpirun", "-np", "4", "-H", "gpu1:2,gpu2:2", "--map-by",
                                   "ppr:2:node", "--bind-to", "none", "-x", "OMP_NUM_THREADS=6"}));
  EXPECT_TRUE(plan.notes.empty());  // both counts given: nothing assumed
}

// ---- inside a Slurm allocation ----

TEST_F(LaunchCommandTest, InsideSlurmWithPmixRunsSrun) {
  Environment environment = inAllocation({{"SLURM_NTASKS", "4"},
                                          {"SLURM_JOB_NUM_NODES", "2"},
                                          {"SLURM_CPUS_ON_NODE", "16"},
                                          {"NCCL_DEBUG", "INFO"}},
                                         /*root=*/true);
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt), environment);
  EXPECT_EQ(plan.argv, withWorker({"srun", "--mpi=pmix", "--ntasks=4", "--cpus-per-task=8",
                                   "--kill-on-bad-exit=1", "--export=ALL"}));
  EXPECT_EQ(plan.setEnv, (std::map<std::string, std::string>{{"OMP_NUM_THREADS", "8"}}));
  EXPECT_TRUE(plan.notes.empty());
  EXPECT_EQ(commandLine(plan),
            "OMP_NUM_THREADS=8 srun --mpi=pmix --ntasks=4 --cpus-per-task=8 --kill-on-bad-exit=1 "
            "--export=ALL " +
                kWorker + " run --config job.yaml");
  EXPECT_EQ(srunAsked_, 1);
}

TEST_F(LaunchCommandTest, InsideSlurmTheTwoTaskSampleJob) {
  // What test-slurm.sh's `sbatch --ntasks=2` on a 2-CPU node gives the batch script.
  Environment environment = inAllocation({{"SLURM_NTASKS", "2"},
                                          {"SLURM_NPROCS", "2"},
                                          {"SLURM_JOB_NUM_NODES", "1"},
                                          {"SLURM_CPUS_ON_NODE", "2"},
                                          {"SLURM_TASKS_PER_NODE", "2"}});
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt), environment);
  EXPECT_EQ(plan.argv, withWorker({"srun", "--mpi=pmix", "--ntasks=2", "--cpus-per-task=1",
                                   "--kill-on-bad-exit=1", "--export=ALL"}));
  EXPECT_EQ(plan.setEnv.at("OMP_NUM_THREADS"), "1");
}

TEST_F(LaunchCommandTest, InsideSlurmWithGpusOneTaskPerGpu) {
  Environment environment = inAllocation({{"SLURM_GPUS_PER_NODE", "h100:4"},
                                          {"SLURM_JOB_NUM_NODES", "2"},
                                          {"SLURM_CPUS_ON_NODE", "64"}});
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt), environment);
  EXPECT_EQ(plan.argv, withWorker({"srun", "--mpi=pmix", "--ntasks=8", "--ntasks-per-node=4",
                                   "--gpus-per-node=4", "--gpu-bind=closest", "--cpus-per-task=16",
                                   "--kill-on-bad-exit=1", "--export=ALL"}));
  EXPECT_EQ(plan.setEnv.at("OMP_NUM_THREADS"), "16");

  // sbatch --cpus-per-task is honoured; --np and --cpus-per-task beat the allocation.
  environment.vars["SLURM_CPUS_PER_TASK"] = "12";
  EXPECT_CONTAINS(commandLine(buildLaunchPlan(request(std::nullopt), environment)),
                  "--cpus-per-task=12 ");
  LaunchRequest explicitCounts = request(6);
  explicitCounts.cpusPerTask = 10;
  EXPECT_EQ(buildLaunchPlan(explicitCounts, environment).argv,
            withWorker({"srun", "--mpi=pmix", "--ntasks=6", "--ntasks-per-node=3",
                        "--gpus-per-node=4", "--gpu-bind=closest", "--cpus-per-task=10",
                        "--kill-on-bad-exit=1", "--export=ALL"}));
  EXPECT_CONTAINS(errorOf(request(9), environment), "2 node(s) x 4 GPU(s) takes at most 8 ranks");
}

TEST_F(LaunchCommandTest, InsideSlurmGpusSeenButNotAllocatedAreNotRequested) {
  Environment environment =
      inAllocation({{"SLURM_NTASKS", "2"}, {"SLURM_CPUS_ON_NODE", "8"}}, false, /*gpus=*/2);
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt), environment);
  EXPECT_EQ(plan.argv, withWorker({"srun", "--mpi=pmix", "--ntasks=2", "--cpus-per-task=4",
                                   "--kill-on-bad-exit=1", "--export=ALL"}));
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_EQ(plan.notes[0],
            "this node shows 2 GPU(s) but allocation 4242 asked for none: starting one rank per "
            "task; ask sbatch for --gpus-per-node=2 to run one rank per GPU");
}

TEST_F(LaunchCommandTest, InsideSlurmExportsGoThroughTheEnvironment) {
  Environment environment = inAllocation({{"SLURM_NTASKS", "2"}, {"SLURM_CPUS_ON_NODE", "4"}});
  environment.vars["LD_LIBRARY_PATH"] = "/opt/torch/lib";
  LaunchRequest exports = request(std::nullopt);
  exports.exports = {"LD_LIBRARY_PATH", "FOO=two words", "OMP_NUM_THREADS=3"};
  const LaunchPlan plan = buildLaunchPlan(exports, environment);
  EXPECT_EQ(plan.setEnv,
            (std::map<std::string, std::string>{{"FOO", "two words"}, {"OMP_NUM_THREADS", "3"}}));
  EXPECT_CONTAINS(commandLine(plan), "FOO='two words' OMP_NUM_THREADS=3 srun --mpi=pmix");

  // The user's OMP_NUM_THREADS reaches the tasks as it is.
  environment.vars["OMP_NUM_THREADS"] = "1";
  EXPECT_TRUE(buildLaunchPlan(request(std::nullopt), environment).setEnv.empty());
  exports.exports = {"NOT_SET"};
  EXPECT_CONTAINS(errorOf(exports, environment), "-x NOT_SET: NOT_SET is not set");
}

TEST_F(LaunchCommandTest, InsideSlurmWithoutPmixRunsMpirunInTheAllocation) {
  srunList_ = kSrunWithoutPmix;
  Environment environment = inAllocation({{"SLURM_NTASKS", "4"},
                                          {"SLURM_JOB_NUM_NODES", "2"},
                                          {"SLURM_CPUS_ON_NODE", "16"},
                                          {"ELEANOR_LOG_LEVEL", "debug"}},
                                         /*root=*/true);
  const LaunchPlan plan = buildLaunchPlan(request(std::nullopt), environment);
  EXPECT_EQ(plan.argv, withWorker({"mpirun", "-np", "4", "--allow-run-as-root", "--bind-to", "none",
                                   "-x", "OMP_NUM_THREADS=8", "-x", "ELEANOR_LOG_LEVEL"}));
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_EQ(plan.notes[0],
            "srun --mpi=list offers none, pmi2 but no pmix, which Open MPI ranks started by srun "
            "need: using mpirun inside the allocation");

  srunList_ = std::nullopt;  // no srun on PATH
  EXPECT_EQ(buildLaunchPlan(request(std::nullopt), environment).notes.at(0),
            "'srun --mpi=list' could not be run: using mpirun inside the allocation");

  // With GPUs, mpirun maps one rank per GPU.
  environment.vars["SLURM_GPUS_ON_NODE"] = "2";
  EXPECT_EQ(
      buildLaunchPlan(request(std::nullopt), environment).argv,
      withWorker({"mpirun", "-np", "4", "--allow-run-as-root", "--map-by", "ppr:2:node",
                  "--bind-to", "none", "-x", "OMP_NUM_THREADS=8", "-x", "ELEANOR_LOG_LEVEL"}));
}

TEST_F(LaunchCommandTest, LauncherCanBeForced) {
  Environment environment = inAllocation({{"SLURM_NTASKS", "2"}, {"SLURM_CPUS_ON_NODE", "2"}});
  LaunchRequest forced = request(std::nullopt);
  forced.launcher = Launcher::kMpirun;
  EXPECT_EQ(buildLaunchPlan(forced, environment).argv,
            withWorker({"mpirun", "-np", "2", "--bind-to", "none", "-x", "OMP_NUM_THREADS=1"}));
  EXPECT_EQ(srunAsked_, 0);  // not even asked

  forced.launcher = Launcher::kSrun;
  srunList_ = kSrunWithoutPmix;
  EXPECT_EQ(errorOf(forced, environment),
            "--launcher srun: srun --mpi=list offers none, pmi2 but no pmix, which Open MPI ranks "
            "started by srun need; leave --launcher out to use mpirun inside the allocation");
  forced.hosts = "node1:2";
  EXPECT_CONTAINS(errorOf(forced, environment), "--hostfile and -H are mpirun's");
  forced.hosts.clear();
  EXPECT_CONTAINS(errorOf(forced, machine(2)),
                  "--launcher srun needs a Slurm allocation and SLURM_JOB_ID is not set");
}

TEST_F(LaunchCommandTest, InsideSlurmHostsGivenMeanMpirunOnThem) {
  files_["hosts.txt"] = "node1 slots=2\nnode2 slots=2\n";
  Environment environment = inAllocation({{"SLURM_NTASKS", "4"}});
  const LaunchPlan plan = buildLaunchPlan(request(4, "hosts.txt"), environment);
  EXPECT_EQ(plan.argv, withWorker({"mpirun", "-np", "4", "--hostfile", "hosts.txt", "--bind-to",
                                   "none", "-x", "OMP_NUM_THREADS=1"}));
  EXPECT_EQ(plan.notes.back(),
            "inside Slurm allocation 4242 with hosts given: mpirun on those hosts");
}

TEST_F(LaunchCommandTest, InsideSlurmMistakesAreCaught) {
  // No task count anywhere.
  EXPECT_EQ(errorOf(request(std::nullopt), inAllocation({{"SLURM_JOB_NUM_NODES", "2"}})),
            "--np N is needed: allocation 4242 does not say how many tasks (SLURM_NTASKS is "
            "unset); pass --np, or ask sbatch/salloc for --ntasks or --ntasks-per-node");
  // `srun -n 4 eleanor-launch`: four launchers would start four jobs.
  EXPECT_EQ(errorOf(request(std::nullopt),
                    inAllocation({{"SLURM_NTASKS", "4"}, {"SLURM_STEP_NUM_TASKS", "4"}})),
            "eleanor-launch is running as one of 4 tasks of an srun step (SLURM_STEP_NUM_TASKS), "
            "so each would start the whole job: run it once, from the batch script or the salloc "
            "shell, not under srun");
  // More ranks than the allocation's tasks: srun's call, with a note.
  const LaunchPlan plan = buildLaunchPlan(request(8), inAllocation({{"SLURM_NTASKS", "4"}}));
  EXPECT_CONTAINS(plan.argv[2], "--ntasks=8");
  EXPECT_CONTAINS(plan.notes.at(0), "--np 8 is more than the 4 tasks allocation 4242 was made for");
}

TEST(ShellQuoteTest, QuotesOnlyWhatTheShellWouldChange) {
  EXPECT_EQ(shellQuote({"mpirun", "-np", "2", "-x", "OMP_NUM_THREADS=1", "/a/b-c.d", "x@y:1,2%"}),
            "mpirun -np 2 -x OMP_NUM_THREADS=1 /a/b-c.d x@y:1,2%");
  EXPECT_EQ(shellQuote({"w", "--set", "name=two words", "it's", "", "a$b", "*", "~", "a\"b"}),
            "w --set 'name=two words' 'it'\\''s' '' 'a$b' '*' '~' 'a\"b'");
  // A first word with '=' would be an assignment to the shell.
  EXPECT_EQ(shellQuote({"A=b", "c=d"}), "'A=b' c=d");
  EXPECT_EQ(shellQuote({}), "");
}

TEST(ShellQuoteTest, ShellReadsTheLineBackAsTheSameArguments) {
  const Args args = {"two words", "it's", "", "$HOME", "*", "back\\slash", "a\"b", "tab\there"};
  std::FILE* shell = popen(("printf '[%s]' " + shellQuote(args)).c_str(), "r");
  ASSERT_NE(shell, nullptr);
  std::string output;
  for (int c; (c = std::fgetc(shell)) != EOF;) output += static_cast<char>(c);
  ASSERT_EQ(pclose(shell), 0);
  std::string expected;
  for (const std::string& arg : args) expected += "[" + arg + "]";
  EXPECT_EQ(output, expected);
}

TEST(CommandLineTest, PrefixesEnvironmentAssignments) {
  LaunchPlan plan;
  plan.argv = {"srun", "--mpi=pmix", "w"};
  EXPECT_EQ(commandLine(plan), "srun --mpi=pmix w");
  plan.setEnv = {{"OMP_NUM_THREADS", "2"}, {"X", "a b"}};
  EXPECT_EQ(commandLine(plan), "OMP_NUM_THREADS=2 X='a b' srun --mpi=pmix w");
}

}  // namespace
}  // namespace eleanor
