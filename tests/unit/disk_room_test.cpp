// diskRoomWarning: the projection (remaining rounds at the bytes a line has taken, then the
// final copy of every line) against the free space, with the boundary exact; fileSystemFreeBytes.
#include "worker/output/disk_room.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace eleanor {
namespace {

const OutputFolder kJob{"out", "job.output", "results.jsonl and errors.jsonl"};

TEST(DiskRoom, RemainingRoundsThenTheFinalCopyOfEveryLine) {
  // 100 bytes a line: 90 lines still to stage (9,000) and 100 to copy (10,000).
  const StagedProgress progress{1000, 10, 100};
  EXPECT_EQ(bytesStillNeeded(progress), 19000);
  EXPECT_EQ(diskRoomWarning(kJob, progress, 19000), std::nullopt);
  EXPECT_EQ(diskRoomWarning(kJob, progress, -1), std::nullopt) << "free space unknown";
  const auto warning = diskRoomWarning(kJob, progress, 18999);
  ASSERT_TRUE(warning.has_value());
  for (const std::string part :
       {"job.output 'out' has 18.6 KiB free, but the rest of this job needs about 18.6 KiB there",
        "at 100 bytes a line (over the 10 lines done), 8.8 KiB for the remaining 90 lines' rounds, "
        "then 9.8 KiB for the final copy into results.jsonl and errors.jsonl",
        "--resume finishes it once there is room"})
    EXPECT_NE(warning->find(part), std::string::npos) << *warning << "\n  missing: " << part;
}

TEST(DiskRoom, AnIndexBuildNamesItsSettingAndFiles) {
  const auto warning = diskRoomWarning({"corpus", "--out", "embeddings.npy and meta.jsonl"},
                                       {1 << 20, 1000, 4000}, 1 << 20);
  ASSERT_TRUE(warning.has_value());
  EXPECT_EQ(warning->rfind("--out 'corpus' has 1.0 MiB free, but the rest of this job needs "
                           "about 7.0 MiB there",
                           0),
            0u)
      << *warning;
  EXPECT_NE(warning->find("3.0 MiB for the remaining 3000 lines' rounds, then 4.0 MiB for the "
                          "final copy into embeddings.npy and meta.jsonl"),
            std::string::npos)
      << *warning;
}

TEST(DiskRoom, NothingDoneNothingProjected) {
  EXPECT_EQ(bytesStillNeeded({0, 0, 1000}), 0);
  EXPECT_EQ(diskRoomWarning(kJob, {0, 0, 1000}, 0), std::nullopt);
}

// At the end (or a resumed job with every round staged) only the copy is left.
TEST(DiskRoom, EveryLineStagedLeavesTheCopy) {
  EXPECT_EQ(bytesStillNeeded({5000, 50, 50}), 5000);
  EXPECT_TRUE(diskRoomWarning(kJob, {5000, 50, 50}, 4999).has_value());
}

TEST(DiskRoom, FreeBytesOfARealFileSystem) {
  EXPECT_GT(fileSystemFreeBytes(std::filesystem::temp_directory_path().string()), 0);
  EXPECT_EQ(fileSystemFreeBytes("/no/such/folder/anywhere"), -1);
}

}  // namespace
}  // namespace eleanor
