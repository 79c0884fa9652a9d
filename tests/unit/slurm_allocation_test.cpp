#include "launcher/slurm_allocation.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace eleanor {
namespace {

using Plugins = std::vector<std::string>;

TEST(SrunMpiListTest, ReadsSlurm22) {
  // Debian 12's slurm-wlm 22.05.8, as test-slurm.sh's cluster prints it.
  const std::string output =
      "MPI plugin types are...\n\tpmix\n\tnone\n\tcray_shasta\n\tpmi2\n"
      "specific pmix plugin versions available: pmix_v4\n";
  EXPECT_EQ(parseSrunMpiList(output), (Plugins{"pmix", "none", "cray_shasta", "pmi2", "pmix_v4"}));
  EXPECT_EQ(pmixPlugin(parseSrunMpiList(output)), "pmix");
}

TEST(SrunMpiListTest, ReadsSlurm20) {
  const std::string output =
      "srun: MPI types are...\nsrun: cray_shasta\nsrun: none\nsrun: pmi2\nsrun: pmix_v3\n";
  EXPECT_EQ(parseSrunMpiList(output), (Plugins{"cray_shasta", "none", "pmi2", "pmix_v3"}));
  EXPECT_EQ(pmixPlugin(parseSrunMpiList(output)), "pmix_v3");
}

TEST(SrunMpiListTest, IgnoresMessagesAndFindsNoPmix) {
  EXPECT_EQ(parseSrunMpiList(""), Plugins{});
  EXPECT_EQ(parseSrunMpiList("srun: error: Unable to resolve \"ctl\": Unknown host\n"
                             "srun: job 12 step creation temporarily disabled\n"),
            Plugins{});
  const Plugins noPmix = parseSrunMpiList("MPI plugin types are...\n\tnone\n\tpmi2\n");
  EXPECT_EQ(noPmix, (Plugins{"none", "pmi2"}));
  EXPECT_EQ(pmixPlugin(noPmix), std::nullopt);
  EXPECT_EQ(parseSrunMpiList("specific pmix plugin versions available: pmix_v3,pmix_v4\n"),
            (Plugins{"pmix_v3", "pmix_v4"}));
}

TEST(SlurmAllocationTest, OutsideAnAllocationThereIsNone) {
  EXPECT_EQ(readSlurmAllocation({}), std::nullopt);
  EXPECT_EQ(readSlurmAllocation({{"SLURM_JOB_ID", ""}, {"SLURM_NTASKS", "2"}}), std::nullopt);
}

TEST(SlurmAllocationTest, ReadsTheBatchEnvironment) {
  const std::optional<SlurmAllocation> allocation =
      readSlurmAllocation({{"SLURM_JOB_ID", "77"},
                           {"SLURM_NNODES", "3"},
                           {"SLURM_NPROCS", "12"},
                           {"SLURM_NTASKS_PER_NODE", "4"},
                           {"SLURM_CPUS_PER_TASK", "2"},
                           {"SLURM_CPUS_ON_NODE", "8"},
                           {"SLURM_GPUS_PER_NODE", "a100:4"},
                           {"SLURM_GPUS_ON_NODE", "2"},
                           {"SLURM_STEP_NUM_TASKS", "1"}});
  ASSERT_TRUE(allocation);
  EXPECT_EQ(allocation->jobId, "77");
  EXPECT_EQ(allocation->nodes, 3);
  EXPECT_EQ(allocation->tasks, 12);
  EXPECT_EQ(allocation->tasksPerNode, 4);
  EXPECT_EQ(allocation->cpusPerTask, 2);
  EXPECT_EQ(allocation->cpusOnNode, 8);
  EXPECT_EQ(allocation->gpusPerNode, 4);  // the request, over the count on this node
  EXPECT_EQ(allocation->stepTasks, 1);
}

TEST(SlurmAllocationTest, MissingOrOddValuesStayUnset) {
  const std::optional<SlurmAllocation> allocation =
      readSlurmAllocation({{"SLURM_JOB_ID", "78"},
                           {"SLURM_JOB_NUM_NODES", "two"},
                           {"SLURM_NTASKS", "0"},
                           {"SLURM_CPUS_ON_NODE", "8x"},
                           {"SLURM_GPUS_PER_NODE", "a100:2,v100:1"},
                           {"SLURM_GPUS_ON_NODE", "3"}});
  ASSERT_TRUE(allocation);
  EXPECT_EQ(allocation->nodes, 1);
  EXPECT_EQ(allocation->tasks, std::nullopt);
  EXPECT_EQ(allocation->tasksPerNode, std::nullopt);
  EXPECT_EQ(allocation->cpusOnNode, std::nullopt);
  EXPECT_EQ(allocation->gpusPerNode, 3);  // a mixed list is not one count: the node's own
  EXPECT_EQ(allocation->stepTasks, 0);
}

}  // namespace
}  // namespace eleanor
