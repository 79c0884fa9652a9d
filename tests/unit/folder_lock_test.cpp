// FolderLock: a second lock on a held folder is refused naming the holder (host, pid) and the
// setting; releasing removes the file and frees the folder; a file left by a killed holder (no
// lock on it) is taken over; threads racing for one folder never hold it two at a time (the
// remove-while-held hand-over, sameFile); the folder is created where it is missing, and removed
// again where nothing was written to it.
#include "worker/output/folder_lock.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/process_identity.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

class FolderLockTest : public ScratchDirTest {};

TEST_F(FolderLockTest, ASecondJobIsRefusedNamingTheFirstUntilItReleases) {
  const std::string out = path("out/run1");  // created by the lock
  std::optional<FolderLock> first(std::in_place, out, "job.output");
  ASSERT_TRUE(first->held());
  EXPECT_TRUE(std::filesystem::exists(first->path()));
  try {
    FolderLock second(out, "job.output");
    FAIL() << "a second lock on a held folder was granted";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(fmt::format("job.output '{}' is in use by another job (pid {} on {}",
                                       out, ::getpid(), hostName())),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("give this one another folder"), std::string::npos) << message;
  }
  EXPECT_TRUE(first->held()) << "the refused attempt must not disturb the holder";
  const std::string file = first->path();
  first.reset();
  EXPECT_FALSE(std::filesystem::exists(file)) << "the lock file outlived its release";
  FolderLock third(out, "--out");
  EXPECT_TRUE(third.held());
}

// A job refused at start-up leaves no folder: one the lock made is removed with it where
// nothing was written there; a folder that was there before, or holds results, stays.
TEST_F(FolderLockTest, AFolderItMadeGoesWithItWhereNothingWasWritten) {
  const std::string made = path("out/refused");
  std::optional<FolderLock> lock(std::in_place, made, "job.output");
  ASSERT_TRUE(std::filesystem::is_directory(made));
  lock.reset();
  EXPECT_FALSE(std::filesystem::exists(made)) << "an empty folder the lock made was left";
  EXPECT_TRUE(std::filesystem::is_directory(path("out"))) << "only the folder itself goes";

  const std::string written = path("out/done");
  lock.emplace(written, "job.output");
  write("out/done/results.jsonl", "{}\n");
  lock.reset();
  EXPECT_TRUE(std::filesystem::exists(written + "/results.jsonl"));

  const std::string before = path("out/before");
  std::filesystem::create_directories(before);
  lock.emplace(before, "job.output");
  lock.reset();
  EXPECT_TRUE(std::filesystem::is_directory(before)) << "a folder the user made was removed";
}

TEST_F(FolderLockTest, AFileLeftByAKilledHolderIsTakenOver) {
  write("out/.eleanor-lock", R"({"host": "gone", "pid": 1})");  // no process holds it
  FolderLock lock(path("out"), "job.output");
  EXPECT_TRUE(lock.held());
  const std::string record = readFile(lock.path());
  EXPECT_NE(record.find(fmt::format("\"pid\":{}", ::getpid())), std::string::npos) << record;
}

TEST_F(FolderLockTest, AFileInTheFoldersPlaceIsRefusedByName) {
  write("a-file", "x");
  try {
    FolderLock lock(path("a-file"), "job.output");
    FAIL() << "locked a file as a folder";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the output folder '" + path("a-file") +
                                         "' (job.output)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(FolderLockTest, RacingThreadsNeverHoldTheFolderTogether) {
  // flock(2) excludes open file descriptions, so threads of one process contend as processes
  // would. Each takes the lock, checks it is alone, and releases (removing the file), many
  // times: without the check that the locked file is still the one at the path, a thread that
  // opened the file before its holder removed it would lock the removed file while another
  // locks the new one.
  constexpr int kThreads = 4;
  constexpr int kHoldsEach = 300;
  const std::string out = path("out");
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> holds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kHoldsEach;) {
        try {
          FolderLock lock(out, "job.output");
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          std::this_thread::yield();
          inside.fetch_sub(1);
          ++done;
          holds.fetch_add(1);
        } catch (const UserError&) {
          std::this_thread::yield();  // held by another thread: try again
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(holds.load(), kThreads * kHoldsEach);
  EXPECT_EQ(overlaps.load(), 0) << "two threads held the folder at once";
  EXPECT_FALSE(std::filesystem::exists(out + "/.eleanor-lock"));
}

}  // namespace
}  // namespace eleanor
