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

class LaunchCommandTest : public ::testing::Test {
 protected:
  // A machine with `cores` cores, a built worker and the files in files_.
  Environment machine(int cores, bool root = false) {
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
    return environment;
  }

  static LaunchRequest request(int ranks, const std::string& hostfile = "") {
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

TEST_F(LaunchCommandTest, ExportsEleanorAndNcclVariablesOnly) {
  Environment environment = machine(2);
  environment.vars = {{"NCCL_IB_HCA", "mlx5"},      {"ELEANOR_LOG_LEVEL", "debug"},
                      {"NCCL_DEBUG", "INFO"},       {"HOME", "/root"},
                      {"MY_ELEANOR_X", "1"},        {"NCCLX", "1"},
                      {"eleanor_lower", "1"},       {"ELEANOR", "1"},
                      {"CUDA_VISIBLE_DEVICES", "0"}};
  EXPECT_EQ(buildLaunchPlan(request(2), environment).argv,
            withWorker({"mpirun", "-np", "2", "--bind-to", "core", "-x", "OMP_NUM_THREADS=1", "-x",
                        "ELEANOR_LOG_LEVEL", "-x", "NCCL_DEBUG", "-x", "NCCL_IB_HCA"}));
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
