// Device choice per rank: one rank per GPU, device_ids, preference order, mps, and the
// launcher's local rank against MPI's.
#include <gtest/gtest.h>

#include <map>

#include "common/device_select.h"
#include "common/error.h"

namespace eleanor {
namespace {

GpuConfig config(std::vector<std::string> preference, std::vector<int> ids = {}) {
  GpuConfig c;
  c.devicePreference = std::move(preference);
  c.multiGpu.deviceIds = std::move(ids);
  return c;
}

TEST(ChooseDevice, OneRankPerGpuByLocalRank) {
  for (int local = 0; local < 4; ++local) {
    const auto choice = chooseDevice(config({"cuda", "cpu"}), local, 4, 4, true, "");
    EXPECT_TRUE(choice.cuda);
    EXPECT_EQ(choice.device, local);
  }
}

TEST(ChooseDevice, DeviceIdsMapLocalRanks) {
  const auto choice = chooseDevice(config({"cuda"}, {3, 1}), 1, 2, 4, true, "");
  EXPECT_TRUE(choice.cuda);
  EXPECT_EQ(choice.device, 1);
  EXPECT_EQ(chooseDevice(config({"cuda"}, {3, 1}), 0, 2, 4, true, "").device, 3);
}

TEST(ChooseDevice, MoreRanksThanGpusIsAnErrorSayingHowToLaunch) {
  try {
    chooseDevice(config({"cuda", "cpu"}), 0, 8, 4, true, "");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("8 ranks run on this host but 4 GPU(s)"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--np 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(chooseDevice(config({"cuda"}, {5}), 0, 1, 2, true, ""), UserError);
}

TEST(ChooseDevice, FallsBackToCpuWhenCudaIsNotUsable) {
  const auto choice = chooseDevice(config({"cuda", "mps", "cpu"}), 0, 2, 0, false, "no driver");
  EXPECT_FALSE(choice.cuda);
  EXPECT_NE(choice.reason.find("no driver"), std::string::npos) << choice.reason;
  ASSERT_EQ(choice.warnings.size(), 1u);
  EXPECT_NE(choice.warnings[0].find("mps"), std::string::npos);
  EXPECT_THROW(chooseDevice(config({"cuda"}), 0, 1, 0, false, "no driver"), UserError);
  GpuConfig off = config({"cuda", "cpu"});
  off.enabled = false;
  EXPECT_FALSE(chooseDevice(off, 0, 1, 8, true, "").cuda);
  EXPECT_FALSE(chooseDevice(config({"cpu", "cuda"}), 0, 1, 8, true, "").cuda);
}

std::map<std::string, std::string> gEnv;
char* fakeGetenv(const char* name) {
  const auto it = gEnv.find(name);
  return it == gEnv.end() ? nullptr : it->second.data();
}

TEST(CheckLocalRank, WarnsWhenTheLauncherDisagreesWithMpi) {
  gEnv = {{"OMPI_COMM_WORLD_LOCAL_RANK", "1"}};
  EXPECT_EQ(checkLocalRank(1, &fakeGetenv), "");
  EXPECT_NE(checkLocalRank(0, &fakeGetenv).find("OMPI_COMM_WORLD_LOCAL_RANK=1"), std::string::npos);
  gEnv = {{"SLURM_LOCALID", "2"}};
  EXPECT_NE(checkLocalRank(3, &fakeGetenv).find("SLURM_LOCALID=2"), std::string::npos);
  gEnv.clear();
  EXPECT_EQ(checkLocalRank(5, &fakeGetenv), "");
}

}  // namespace
}  // namespace eleanor

namespace eleanor {
namespace {

TEST(CheckWorldSize, SingletonsUnderSlurmAndMismatchedMpirun) {
  gEnv = {{"SLURM_NTASKS", "4"}};
  const std::string singleton = checkWorldSize(1, &fakeGetenv);
  EXPECT_NE(singleton.find("singleton"), std::string::npos) << singleton;
  EXPECT_NE(singleton.find("srun --mpi=pmix"), std::string::npos) << singleton;
  EXPECT_EQ(checkWorldSize(4, &fakeGetenv), "");
  EXPECT_NE(checkWorldSize(2, &fakeGetenv).find("has 2 ranks"), std::string::npos);
  gEnv = {{"OMPI_COMM_WORLD_SIZE", "3"}};
  EXPECT_NE(checkWorldSize(1, &fakeGetenv).find("OMPI_COMM_WORLD_SIZE"), std::string::npos);
  EXPECT_EQ(checkWorldSize(3, &fakeGetenv), "");
  // mpirun inside a Slurm allocation: Open MPI's count is the truth.
  gEnv = {{"SLURM_NTASKS", "8"}, {"OMPI_COMM_WORLD_SIZE", "2"}};
  EXPECT_EQ(checkWorldSize(2, &fakeGetenv), "");
  gEnv.clear();
  EXPECT_EQ(checkWorldSize(1, &fakeGetenv), "");
}

}  // namespace
}  // namespace eleanor
