// differingFileVersions at whatever W mpirun started (1..4 in CTest): the same sizes on every
// rank agree (whatever the modification times: node-local copies); a file whose size differs on
// some ranks gives every rank the same message, naming
// that file (not the others), rank 0's version and each differing rank's; a real file rewritten
// between two ranks' opens differs. MappedFile's stamp is the file's size and mtime.
#include "common/file_versions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/mpi_communicator.h"

namespace eleanor {
namespace {

constexpr double kTimeout = 60;

std::vector<StampedFile> files(int64_t cases, int64_t meta) {
  return {{"cases.jsonl", "job.input", {cases, 1'700'000'000'123'456'789}},
          {"corpus/embeddings.npy", "job.precedents", {4096, 1'700'000'000'000'000'000}},
          {"corpus/meta.jsonl", "job.precedents", {meta, 1'700'000'001'000'000'000}}};
}

// Checks that every rank got the same result and that W = 1 found nothing to report; whether
// there is a message to look into (W > 1).
bool oneMessageOnEveryRank(Communicator& comm, const std::optional<std::string>& mine) {
  const auto all = allGatherStrings(comm, mine.value_or("(none)"));
  for (int r = 1; r < comm.size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r;
  if (comm.size() == 1) {
    EXPECT_FALSE(mine);
    return false;
  }
  EXPECT_TRUE(mine);
  return mine.has_value();
}

TEST(FileVersions, TheSameSizesOnEveryRankAgree) {
  MpiCommunicator comm(kTimeout);
  EXPECT_FALSE(differingFileVersions(comm, files(100, 200)));
  EXPECT_FALSE(differingFileVersions(comm, {}));
  // Each node's own copy of a file, made at another time: the same file to the job.
  auto copies = files(100, 200);
  copies[0].stamp.modifiedNs += comm.rank() * 1'000'000'000LL;
  EXPECT_FALSE(differingFileVersions(comm, copies));
}

TEST(FileVersions, AFileThatDiffersOnSomeRanksIsNamedWithThoseRanks) {
  MpiCommunicator comm(kTimeout);
  const int last = comm.size() - 1;
  // The last rank saw a longer meta.jsonl; with W = 1 nothing can differ.
  const auto message = differingFileVersions(comm, files(100, comm.rank() == last ? 250 : 200));
  if (!oneMessageOnEveryRank(comm, message)) return;
  EXPECT_NE(message->find("different versions of 'corpus/meta.jsonl' (job.precedents): rank 0 ("),
            std::string::npos)
      << *message;
  EXPECT_NE(message->find("): 200 bytes, modified 2023-11-14 22:13:21.000000000 UTC"),
            std::string::npos)
      << *message;
  EXPECT_NE(message->find(fmt::format("; rank {} (", last)), std::string::npos) << *message;
  EXPECT_NE(message->find("): 250 bytes"), std::string::npos) << *message;
  EXPECT_EQ(message->find("cases.jsonl"), std::string::npos) << "names a file that agreed";
  for (int r = 1; r < last; ++r)
    EXPECT_EQ(message->find(fmt::format("rank {} (", r)), std::string::npos)
        << "names rank " << r << ", which agreed: " << *message;
}

TEST(FileVersions, DifferentSettingsOnSomeRanksAreNamedWithThoseRanks) {
  MpiCommunicator comm(kTimeout);
  EXPECT_FALSE(differingSettings(comm, "0123456789abcdef", "config/eleanor.yaml"));
  const int last = comm.size() - 1;
  const auto message = differingSettings(
      comm, comm.rank() == last ? "fedcba9876543210" : "0123456789abcdef", "config/eleanor.yaml");
  if (!oneMessageOnEveryRank(comm, message)) return;
  EXPECT_NE(message->find("different settings from 'config/eleanor.yaml'"), std::string::npos)
      << *message;
  EXPECT_NE(message->find("): 0123456789abcdef; rank " + std::to_string(last) + " ("),
            std::string::npos)
      << *message;
  EXPECT_NE(message->find("): fedcba9876543210"), std::string::npos) << *message;
}

TEST(FileVersions, AFileRewrittenBetweenTheRanksOpensDiffers) {
  MpiCommunicator comm(kTimeout);
  char path[256] = {};
  if (comm.rank() == 0) {
    const std::string dir = std::filesystem::temp_directory_path() /
                            ("eleanor-mpi-versions-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string file = dir + "/cases.jsonl";
    std::ofstream(file) << "{\"id\": \"a\", \"text\": \"x\"}\n";
    file.copy(path, sizeof(path) - 1);
  }
  comm.broadcast(path, sizeof(path), 0);
  std::optional<MappedFile> opened;
  if (comm.rank() == 0) opened.emplace(path);
  comm.barrier();
  if (comm.rank() == 0) {  // rewritten after rank 0 opened it, before the others do
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::ofstream(path, std::ios::app) << "{\"id\": \"b\", \"text\": \"y\"}\n";
  }
  comm.barrier();
  if (comm.rank() != 0) opened.emplace(path);
  struct stat info {};
  ASSERT_EQ(::stat(path, &info), 0);
  if (comm.rank() != 0) {
    EXPECT_EQ(opened->stamp().bytes, info.st_size);
    EXPECT_EQ(opened->stamp().modifiedNs,
              int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec);
  }
  const auto message = differingFileVersions(comm, {{path, "job.input", opened->stamp()}});
  EXPECT_EQ(message.has_value(), comm.size() > 1) << message.value_or("");
  comm.barrier();
  if (comm.rank() == 0) {
    ::unlink(path);
    ::rmdir(std::filesystem::path(path).parent_path().c_str());
  }
}

}  // namespace
}  // namespace eleanor
