// hostMemory on fake /proc and cgroup trees: MemAvailable alone; cgroup v2 (Slurm's layout) and
// v1 (a container's namespaced mount) limits less the working set, the tightest level winning;
// unlimited levels, a hybrid mount and unreadable files ignored. shardMemoryProblem and
// loadPrecedentShard: a shard larger than this rank's part of the host's memory is refused by
// name before it is read.
#include "common/host_memory.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "common/npy.h"
#include "tests/unit/scratch_dir.h"
#include "worker/retrieval/precedent_shard.h"
#include "worker/retrieval/shard_memory.h"

namespace eleanor {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

class HostMemoryTest : public ScratchDirTest {
 protected:
  // A /proc with MemAvailable of `available` bytes, this process in `cgroups` (the lines of
  // /proc/self/cgroup) and the mounts `mounts` (the lines of /proc/self/mountinfo).
  void proc(int64_t available, const std::string& cgroups, const std::string& mounts) {
    write("proc/meminfo", fmt::format("MemTotal: {} kB\nMemFree: 1 kB\nMemAvailable: {} kB\n",
                                      available / 512, available / 1024));
    write("proc/self/cgroup", cgroups);
    write("proc/self/mountinfo", mounts);
  }
  // One cgroup's files under the fake root: a limit ("max" or bytes), usage and inactive cache.
  void group(const std::string& dir, const std::string& limitFile, const std::string& limit,
             const std::string& usageFile, int64_t usage, const std::string& inactiveKey,
             int64_t inactive) {
    write(dir + "/" + limitFile, limit + "\n");
    write(dir + "/" + usageFile, std::to_string(usage) + "\n");
    write(dir + "/memory.stat",
          fmt::format("anon 1\nfile 2\n{} {}\nactive_file 3\n", inactiveKey, inactive));
  }
  HostMemory read() const { return hostMemory(path("proc"), dir_.string()); }
};

TEST_F(HostMemoryTest, MemAvailableWhereNoCgroupLimits) {
  proc(3 * kGiB, "0::/\n", "");
  const HostMemory memory = read();
  EXPECT_EQ(memory.availableBytes, 3 * kGiB);
  EXPECT_EQ(memory.source, "MemAvailable");
}

// Slurm's cgroup v2 layout: the limit (--mem) sits on the job's group, the task is below it.
TEST_F(HostMemoryTest, CgroupV2TheTightestLevelLessItsWorkingSet) {
  const std::string task = "/system.slice/slurmstepd.scope/job_42/step_0/user/task_0";
  proc(100 * kGiB, "0::" + task + "\n",
       "22 1 8:1 / / rw - ext4 /dev/vda rw\n"
       "30 22 0:27 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n");
  const std::string root = "sys/fs/cgroup";
  group(root + "/system.slice", "memory.max", std::to_string(64 * kGiB), "memory.current",
        10 * kGiB, "inactive_file", 0);  // 54 GiB left
  group(root + "/system.slice/slurmstepd.scope/job_42", "memory.max", std::to_string(16 * kGiB),
        "memory.current", 6 * kGiB, "inactive_file", 2 * kGiB);  // 16 - (6 - 2) = 12 GiB left
  group(root + "/system.slice/slurmstepd.scope/job_42/step_0", "memory.max", "max",
        "memory.current", 5 * kGiB, "inactive_file", 0);
  group(root + "/system.slice/slurmstepd.scope/job_42/step_0/user", "memory.max",
        std::to_string(20 * kGiB), "memory.current", kGiB, "inactive_file", 0);  // 19 GiB left
  const HostMemory memory = read();
  EXPECT_EQ(memory.availableBytes, 12 * kGiB);
  EXPECT_EQ(memory.source,
            "the memory cgroup '/system.slice/slurmstepd.scope/job_42' (memory.max 16.00 GiB, "
            "4.00 GiB in use)");
}

// A container: the v1 memory hierarchy mounted at its own group (mountinfo's root field), the
// process one level below; "no limit" written as v1 writes it.
TEST_F(HostMemoryTest, CgroupV1BelowANamespacedMountRoot) {
  proc(50 * kGiB, "5:devices:/docker/abc\n4:memory:/docker/abc/inner\n0::/\n",
       "31 30 0:28 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
       "32 30 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n");
  const std::string root = "sys/fs/cgroup/memory";
  group(root, "memory.limit_in_bytes", std::to_string(2 * kGiB), "memory.usage_in_bytes",
        3 * kGiB / 2, "total_inactive_file", kGiB / 2);  // 2 - (1.5 - 0.5) = 1 GiB left
  group(root + "/inner", "memory.limit_in_bytes", "9223372036854771712", "memory.usage_in_bytes",
        kGiB, "total_inactive_file", 0);
  const HostMemory memory = read();
  EXPECT_EQ(memory.availableBytes, kGiB);
  EXPECT_EQ(memory.source,
            "the memory cgroup '/docker/abc' (memory.limit_in_bytes 2.00 GiB, 1.00 GiB in use)");
}

// This build machine's layout: v1 memory without a limit beside a v2 mount with no memory
// controller; and a group whose working set is over its limit has nothing left, not less.
TEST_F(HostMemoryTest, UnlimitedOrMissingLevelsLeaveMemAvailable) {
  proc(7 * kGiB, "4:memory:/process_api/x\n0::/\n",
       "31 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
       "40 30 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  group("sys/fs/cgroup/memory/process_api/x", "memory.limit_in_bytes", "9223372036854771712",
        "memory.usage_in_bytes", kGiB, "total_inactive_file", 0);
  write("sys/fs/cgroup/unified/cgroup.procs", "1\n");
  EXPECT_EQ(read().availableBytes, 7 * kGiB);
  EXPECT_EQ(read().source, "MemAvailable");

  group("sys/fs/cgroup/memory/process_api", "memory.limit_in_bytes", std::to_string(kGiB),
        "memory.usage_in_bytes", 2 * kGiB, "total_inactive_file", 0);
  EXPECT_EQ(read().availableBytes, 0);
}

TEST_F(HostMemoryTest, AGroupThatOnlySharesAPrefixWithTheMountIsNotBelowIt) {
  proc(7 * kGiB, "4:memory:/abc\n",
       "31 30 0:28 /ab /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  group("sys/fs/cgroup/memory", "memory.limit_in_bytes", std::to_string(kGiB),
        "memory.usage_in_bytes", 0, "total_inactive_file", 0);
  EXPECT_EQ(read().availableBytes, 7 * kGiB);
}

TEST_F(HostMemoryTest, NothingReadableIsUnknown) {
  const HostMemory memory = hostMemory(path("no-proc"), dir_.string());
  EXPECT_EQ(memory.availableBytes, -1);
  EXPECT_EQ(memory.source, "");
}

TEST(HostMemoryText, GiBFromOneGiBUpThenMiBThenKiB) {
  EXPECT_EQ(byteSizeText(3 * kGiB / 2), "1.50 GiB");
  EXPECT_EQ(byteSizeText(kGiB), "1.00 GiB");
  EXPECT_EQ(byteSizeText(kGiB - (kGiB >> 10)), "1023.0 MiB");
  EXPECT_EQ(byteSizeText(3 << 19), "1.5 MiB");
  EXPECT_EQ(byteSizeText(2048), "2.0 KiB");
  EXPECT_EQ(byteSizeText(512), "512 bytes");
}

TEST(ShardMemory, EachOfTheHostsRanksMayTakeItsPart) {
  const HostMemory memory{10 * kGiB, "MemAvailable"};
  const int64_t perRow = shardHostBytes(1, 384, 6);
  EXPECT_GT(perRow, 384 * 4);
  EXPECT_EQ(shardHostBytes(1000, 384, 6), 1000 * perRow);
  // 4 GiB of rows: fits alone (10 GiB) and with one more rank (5 GiB), not with three (3.33).
  const int64_t rows = 4 * kGiB / perRow;
  ShardPlacement shard{rows, 4 * rows, 384, 6, 4, 1};
  EXPECT_EQ(shardMemoryProblem("c/embeddings.npy", shard, memory), std::nullopt);
  shard.localRanks = 2;
  EXPECT_EQ(shardMemoryProblem("c/embeddings.npy", shard, memory), std::nullopt);
  shard.localRanks = 3;
  const auto problem = shardMemoryProblem("c/embeddings.npy", shard, memory);
  ASSERT_TRUE(problem.has_value());
  for (const std::string& part :
       {fmt::format("this rank's shard of 'c/embeddings.npy' ({} of {} precedents x 384 dims) "
                    "takes 4.00 GiB of host memory once loaded, but this rank may take 3.33 GiB: "
                    "MemAvailable leaves 10.00 GiB to the 3 rank(s) on this host.",
                    rows, 4 * rows),
        std::string("Each of the 4 ranks holds 1/4 of the corpus"),
        std::string("ask for more memory (sbatch --mem) (where the memory is there after all, "
                    "e.g. in swap, job.check_memory: false loads it)")})
    EXPECT_NE(problem->find(part), std::string::npos) << *problem << "\n  missing: " << part;
  EXPECT_EQ(shardMemoryProblem("c/embeddings.npy", shard, HostMemory{}), std::nullopt)
      << "memory unknown: not checked";
}

class ShardMemoryLoadTest : public ScratchDirTest {};

// Two ranks on one host: a shard that fits half of the memory is loaded, one two bytes larger
// is refused with its rows named.
TEST_F(ShardMemoryLoadTest, TooLargeAShardIsRefusedBeforeItIsRead) {
  constexpr int64_t kRows = 64, kDim = 8;
  write("corpus/embeddings.npy",
        npyHeaderBytes(kRows, kDim) + std::string(kRows * kDim * sizeof(float), '\0'));
  std::string meta;
  for (int64_t i = 0; i < kRows; ++i)
    meta += fmt::format(R"({{"id":"p{}","decision":"allow","severity":{{}}}})", i) + "\n";
  write("corpus/meta.jsonl", meta);
  const std::vector<std::string> critics{"rights", "risk"};
  const std::string folder = path("corpus");
  const int64_t half = shardHostBytes(kRows / 2, kDim, critics.size());

  // Two ranks on this host, each may take half of what is available.
  const PrecedentShard fits =
      loadPrecedentShard(folder, 1, 2, kDim, "", critics, HostMemory{2 * half, "test"}, 2);
  EXPECT_EQ(fits.rows.size(), kRows / 2);
  EXPECT_EQ(fits.meta.size(), static_cast<size_t>(kRows / 2));
  try {
    loadPrecedentShard(folder, 1, 2, kDim, "", critics, HostMemory{2 * half - 2, "test"}, 2);
    FAIL() << "a shard one byte too large for its rank was loaded";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("(32 of 64 precedents x 8 dims)"), std::string::npos)
        << e.what();
  }
  // Unknown memory: loaded, as before.
  EXPECT_EQ(loadPrecedentShard(folder, 0, 1, kDim, "", critics).meta.size(),
            static_cast<size_t>(kRows));
}

}  // namespace
}  // namespace eleanor
