// Each rank reads only its byte range of the input (one file, or several read as one, some of
// them compressed: written by gzip or zstd, one stream each, or by bgzip or pzstd, in blocks or
// frames; all split by their compressed bytes); together the ranks see every line exactly
// once, numbered and placed (file, line in it) as a plain serial split of the files' texts
// gives, at every W.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>

#include "common/mpi_communicator.h"
#include "tests/support/compress.h"
#include "worker/cases/case_parser.h"
#include "worker/cases/case_reader.h"

namespace eleanor {
namespace {

// Rank 0 writes each of `texts` to a fresh file, compressed as `kinds` says ("" plain; "gz",
// "zst" as gzip or zstd write it, one stream, here of 8 members or frames, as zstd gives out
// text in blocks of up to 128 KiB: one frame of these small texts would be one block, which
// only one rank could read; "bgz" as bgzip writes it, "pzst" as pzstd does, in pieces of 1000
// bytes that ranks start at); every rank gets their paths.
std::vector<std::string> shareFiles(Communicator& comm, const std::vector<std::string>& texts,
                                    const std::vector<std::string>& kinds, uint64_t seed) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < texts.size(); ++i) {
    char path[256] = {};
    if (comm.rank() == 0) {
      const std::string dir =
          std::filesystem::temp_directory_path() / ("eleanor-mpi-" + std::to_string(::getpid()));
      std::filesystem::create_directories(dir);
      // Latin-1 in the name: file names are bytes, not UTF-8 (the listing's broadcast keeps them).
      const bool gzip = kinds[i].ends_with("gz");
      const bool split = kinds[i] == "bgz" || kinds[i] == "pzst";
      const std::string file = fmt::format("{}/cases-{}-{}-caf\xe9.jsonl{}", dir, seed, i,
                                           kinds[i].empty() ? ""
                                           : gzip           ? ".gz"
                                                            : ".zst");
      std::ofstream(file, std::ios::binary) << (kinds[i].empty() ? texts[i]
                                                : split ? testing::splittable(texts[i], gzip, 1000)
                                                        : testing::compressed(texts[i], gzip, 8));
      file.copy(path, sizeof(path) - 1);
    }
    comm.broadcast(path, sizeof(path), 0);
    paths.emplace_back(path);
  }
  return paths;
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

// "line file:line-in-file kind:id" for every case and bad line a reader returns, in order, and
// the number of blank lines.
std::string readAll(CaseReader& reader, int batch, int64_t& blank) {
  std::string seen;
  while (!reader.done()) {
    const CaseBatch b = reader.next(batch);
    std::vector<std::pair<int64_t, std::string>> items;
    for (const auto& c : b.cases) items.emplace_back(c.line, "case:" + c.id);
    for (const auto& e : b.errors) items.emplace_back(e.line, "error");
    std::sort(items.begin(), items.end());
    for (const auto& [line, what] : items) {
      const InputLines::Place at = reader.lineNames().locate(line);
      seen += fmt::format("{} {}:{} {}\n", line, *at.path, at.line, what);
    }
    blank += b.blankLines;
  }
  return seen;
}

// The same from a plain serial split of each file: lines end at '\n' (a file's last line may
// have none), a trailing '\r' is dropped, numbers run on across the files.
std::string reference(const std::vector<std::string>& paths, const std::vector<std::string>& texts,
                      int64_t& blank) {
  std::string seen;
  int64_t line = 0;
  for (size_t f = 0; f < texts.size(); ++f) {
    std::vector<std::string> lines;
    std::string current;
    for (const char ch : texts[f]) {
      if (ch != '\n') {
        current += ch;
        continue;
      }
      lines.push_back(current);
      current.clear();
    }
    if (!current.empty()) lines.push_back(current);
    for (size_t i = 0; i < lines.size(); ++i) {
      ++line;
      std::string text = lines[i];
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (isBlankLine(text)) {
        ++blank;
        continue;
      }
      const auto parsed = parseCaseLine(text, line);
      const Case* c = std::get_if<Case>(&parsed);
      seen += fmt::format("{} {}:{} {}\n", line, paths[f], i + 1, c ? "case:" + c->id : "error");
    }
  }
  return seen;
}

// One file (seeds 1-12; 31-40 one compressed as gzip, zstd, bgzip or pzstd write, which every
// rank reads part of) and several (13-30: one to six files, some empty, some without a final
// newline, so that ranks' byte ranges start and end in every kind of place; most of them
// compressed, so that ranges start and end inside streams, blocks and frames).
TEST(CaseReader, RanksTogetherSeeEveryLineOnceWithGlobalNumbers) {
  MpiCommunicator comm(60);
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    const int fileCount =
        seed <= 12 || seed > 30 ? 1 : std::uniform_int_distribution<int>(1, 6)(rng);
    std::vector<std::string> texts;
    std::vector<std::string> kinds;
    for (int f = 0; f < fileCount; ++f) {
      const bool empty = fileCount > 1 && std::uniform_int_distribution<int>(0, 4)(rng) == 0;
      texts.push_back(empty ? std::string()
                            : randomCases(rng, std::uniform_int_distribution<int>(0, 400)(rng)));
      const int kind = seed <= 12  ? 0
                       : seed > 30 ? 1 + static_cast<int>(seed % 4)
                                   : std::uniform_int_distribution<int>(0, 5)(rng);
      kinds.push_back(kind == 1   ? "gz"
                      : kind == 2 ? "zst"
                      : kind == 3 ? "bgz"
                      : kind == 4 ? "pzst"
                                  : "");
    }
    const std::vector<std::string> paths = shareFiles(comm, texts, kinds, seed);

    CaseReader mine(shareInputListing(comm, "setup", paths, "job.input"), "job.input", comm.rank(),
                    comm.size(), 1 << 20);
    mine.numberLines(comm);
    if (seed > 30 && texts[0].size() > 20'000) {  // hundreds of lines: some for each rank
      EXPECT_GT(mine.rankLines(), 0) << "seed=" << seed << ": rank " << comm.rank()
                                     << " reads none of a " << kinds[0] << " file";
    }
    int64_t blank = 0;
    const std::string local = readAll(mine, 7, blank);
    std::vector<std::byte> bytes;
    std::vector<size_t> counts;
    comm.allGatherV(local.data(), local.size(), bytes, counts);
    comm.allReduceSum(std::span<int64_t>(&blank, 1));

    int64_t expectedBlank = 0;
    const std::string expected = reference(paths, texts, expectedBlank);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), expected)
        << "seed=" << seed << " files=" << fileCount << " W=" << comm.size();
    EXPECT_EQ(blank, expectedBlank) << "seed=" << seed;
    int64_t lines = 0;
    for (const auto& text : texts)
      lines += std::count(text.begin(), text.end(), '\n') +
               (!text.empty() && text.back() != '\n' ? 1 : 0);
    EXPECT_EQ(mine.totalLines(), lines) << "seed=" << seed;
    comm.barrier();
  }
}

}  // namespace
}  // namespace eleanor
