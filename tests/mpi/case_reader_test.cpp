// Each rank reads only its byte range; together the ranks see every line exactly once, with
// the same line numbers a serial reader gives, at every W.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/local_communicator.h"
#include "common/mpi_communicator.h"
#include "worker/cases/case_reader.h"

namespace eleanor {
namespace {

// Rank 0 writes `text` to a fresh file; every rank gets its path.
std::string shareFile(Communicator& comm, const std::string& text) {
  char path[256] = {};
  if (comm.rank() == 0) {
    const std::string dir =
        std::filesystem::temp_directory_path() / ("eleanor-mpi-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string file = dir + "/cases.jsonl";
    std::ofstream(file, std::ios::binary) << text;
    file.copy(path, sizeof(path) - 1);
  }
  comm.broadcast(path, sizeof(path), 0);
  return path;
}

std::string randomCases(std::mt19937_64& rng, int lines) {
  std::string text;
  for (int i = 1; i <= lines; ++i) {
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    if (kind == 0) {
      text += "\n";  // blank
    } else if (kind == 1) {
      text += "{\"id\": broken\n";
    } else {
      text += "{\"id\": \"c" + std::to_string(i) + "\", \"text\": \"" +
              std::string(std::uniform_int_distribution<int>(0, 300)(rng), 'x') + "\"}" +
              (kind == 2 ? "\r\n" : "\n");
    }
  }
  if (std::uniform_int_distribution<int>(0, 1)(rng)) text.pop_back();  // no final newline
  return text;
}

// "line:kind:id" for every line a reader returns, in order.
std::vector<std::string> readAll(CaseReader& reader, int batch) {
  std::vector<std::string> seen;
  while (!reader.done()) {
    const CaseBatch b = reader.next(batch);
    std::vector<std::pair<int64_t, std::string>> items;
    for (const auto& c : b.cases) items.emplace_back(c.line, "case:" + c.id);
    for (const auto& e : b.errors) items.emplace_back(e.line, "error");
    std::sort(items.begin(), items.end());
    for (const auto& [line, what] : items) seen.push_back(std::to_string(line) + ":" + what);
    seen.push_back("blank*" + std::to_string(b.blankLines));
  }
  return seen;
}

TEST(CaseReader, RanksTogetherSeeEveryLineOnceWithGlobalNumbers) {
  MpiCommunicator comm(60);
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed);
    const int lines = std::uniform_int_distribution<int>(0, 400)(rng);
    const std::string path = shareFile(comm, randomCases(rng, lines));

    CaseReader mine(path, "job.input", comm.rank(), comm.size(), 1 << 20);
    mine.numberLines(comm);
    std::vector<std::string> local;
    for (const auto& item : readAll(mine, 7))
      if (item.rfind("blank*", 0) != 0) local.push_back(item + "\n");
    std::string joined;
    for (const auto& s : local) joined += s;
    std::vector<std::byte> bytes;
    std::vector<size_t> counts;
    comm.allGatherV(joined.data(), joined.size(), bytes, counts);

    LocalCommunicator one;
    CaseReader serial(path, "job.input", 0, 1, 1 << 20);
    serial.numberLines(one);
    std::string expected;
    for (const auto& item : readAll(serial, 1000))
      if (item.rfind("blank*", 0) != 0) expected += item + "\n";
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), expected)
        << "seed=" << seed << " lines=" << lines << " W=" << comm.size();
    EXPECT_EQ(mine.totalLines(), serial.totalLines()) << "seed=" << seed;
    comm.barrier();
  }
}

}  // namespace
}  // namespace eleanor
