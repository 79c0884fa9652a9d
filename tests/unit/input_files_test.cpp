// expandInputs: a file, a folder (its JSON lines files by name, hidden and '_' files left out),
// a pattern (its files by name), a list of those in the order given; the refusals (a pattern
// matching nothing, a folder without JSON lines files, one file twice however it is spelled, no
// entry). InputLines: input line numbers back to (file, line) against a linear scan, empty files
// included.
#include "worker/cases/input_files.h"
#include "worker/cases/input_lines.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"
#include "worker/cases/case_reader.h"

namespace eleanor {
namespace {

namespace fs = std::filesystem;
using Files = std::vector<std::string>;

class InputFiles : public ScratchDirTest {};

TEST_F(InputFiles, AFileIsItselfAndAMissingOneIsKeptForTheUsualError) {
  const std::string file = write("cases.jsonl", "{}\n");
  EXPECT_EQ(expandInputs({file}, "job.input"), Files{file});
  EXPECT_EQ(expandInputs({path("missing.jsonl")}, "job.input"), Files{path("missing.jsonl")});
  // Any name is a file where it is one: a name with pattern characters too.
  const std::string odd = write("odd[1].jsonl", "{}\n");
  EXPECT_EQ(expandInputs({odd}, "job.input"), Files{odd});
}

TEST_F(InputFiles, AFolderGivesItsJsonLinesFilesInByteOrderOfTheirNames) {
  write("parts/part-00010.jsonl", "{}\n");
  write("parts/part-00002.jsonl", "{}\n");
  write("parts/B.ndjson", "{}\n");
  write("parts/a.json", "{}\n");
  write("parts/_SUCCESS", "");
  write("parts/.part-00003.jsonl.crc", "");
  write("parts/.hidden.jsonl", "{}\n");
  write("parts/README.md", "text\n");
  write("parts/nested/part-00001.jsonl", "{}\n");
  write("parts/part-00011.jsonl.gz", "");  // compressed ones are JSON lines files too
  write("parts/part-00012.json.zst", "");
  write("parts/part-00013.jsonl.xz", "");  // but not in a compression the reader lacks
  write("parts/part-00014.gz", "");
  const Files expected{path("parts/B.ndjson"),
                       path("parts/a.json"),
                       path("parts/part-00002.jsonl"),
                       path("parts/part-00010.jsonl"),
                       path("parts/part-00011.jsonl.gz"),
                       path("parts/part-00012.json.zst")};
  EXPECT_EQ(expandInputs({path("parts")}, "job.input"), expected);
  EXPECT_EQ(expandInputs({path("parts") + "/"}, "job.input").front(), path("parts/B.ndjson"));
}

TEST_F(InputFiles, APatternGivesItsRegularFilesByName) {
  write("d/c-2.jsonl", "{}\n");
  write("d/c-1.jsonl", "{}\n");
  write("d/c-3.txt", "{}\n");
  fs::create_directories(path("d/c-4.jsonl"));  // a folder that matches: not a file
  EXPECT_EQ(expandInputs({path("d/c-*.jsonl")}, "job.input"),
            (Files{path("d/c-1.jsonl"), path("d/c-2.jsonl")}));
  EXPECT_EQ(expandInputs({path("d/c-?.*")}, "job.input"),
            (Files{path("d/c-1.jsonl"), path("d/c-2.jsonl"), path("d/c-3.txt")}));
}

TEST_F(InputFiles, AListKeepsItsOrder) {
  const std::string b = write("b.jsonl", "{}\n");
  write("more/a.jsonl", "{}\n");
  write("more/z.jsonl", "{}\n");
  const std::string a = write("a.jsonl", "{}\n");
  EXPECT_EQ(expandInputs({b, path("more"), a}, "job.input"),
            (Files{b, path("more/a.jsonl"), path("more/z.jsonl"), a}));
}

TEST_F(InputFiles, RefusalsNameTheEntryAndTheSetting) {
  EXPECT_EQ(refusal([&] { expandInputs({path("none-*.jsonl")}, "job.input"); }),
            "the pattern '" + path("none-*.jsonl") +
                "' (job.input) matches no file: check the folder and the pattern (quote it, so "
                "that the shell passes it on unexpanded)");
  write("xz/part-0.jsonl.xz", "x");
  write("xz/_SUCCESS", "");
  EXPECT_EQ(refusal([&] { expandInputs({path("xz")}, "--input"); }),
            "folder '" + path("xz") +
                "' (--input) holds no JSON lines file (*.jsonl, *.ndjson, *.json, or one of these "
                "compressed: .gz, .zst); it holds 1 other file(s), e.g. 'part-0.jsonl.xz': give "
                "the files themselves, a pattern that matches them, or another folder");
  fs::create_directories(path("empty"));
  EXPECT_NE(refusal([&] { expandInputs({path("empty")}, "job.input"); }).find("holds no JSON"),
            std::string::npos);
  // Partitioned output: the folders are named, with the pattern that reads their files.
  write("exports/date=2/part-0.jsonl.gz", "");
  write("exports/date=1/part-0.jsonl.gz", "");
  EXPECT_EQ(refusal([&] { expandInputs({path("exports")}, "job.input"); }),
            "folder '" + path("exports") +
                "' (job.input) holds no JSON lines file (*.jsonl, *.ndjson, *.json, or one of "
                "these compressed: .gz, .zst); it holds 2 folder(s), e.g. 'date=1', which are not "
                "searched: give the files themselves, a pattern that matches them ('" +
                path("exports") +
                "/*/*.jsonl*' for the JSON lines files of its folders), or another folder");
  EXPECT_EQ(
      expandInputs({path("exports") + "/*/*.jsonl*"}, "job.input"),
      (Files{path("exports/date=1/part-0.jsonl.gz"), path("exports/date=2/part-0.jsonl.gz")}));
  EXPECT_EQ(refusal([&] { expandInputs({}, "job.input"); }),
            "job.input lists no file: give a file, a folder or a pattern");
}

TEST_F(InputFiles, OneFileTwiceIsRefusedHoweverItIsSpelled) {
  const std::string file = write("p/a.jsonl", "{}\n");
  write("p/b.jsonl", "{}\n");
  fs::create_symlink(file, path("link.jsonl"));
  fs::create_hard_link(file, path("hard.jsonl"));
  for (const std::string& again :
       {file, path("link.jsonl"), path("hard.jsonl"), path("p/../p/a.jsonl"), path("p")}) {
    const std::string reason = refusal([&] { expandInputs({file, again}, "job.input"); });
    EXPECT_NE(reason.find("job.input names one file twice ('" + file + "' and '"),
              std::string::npos)
        << again << ": " << reason;
    EXPECT_NE(reason.find("its lines would be read twice"), std::string::npos) << reason;
  }
}

// A rank opens only the files that hold lines of its byte range: with a large good file and a
// small gzip file after it, rank 0 of 2 (whose bytes lie in the first) never opens the second,
// rank 1 does and refuses it. Every non-empty file is some rank's, so every file is checked.
TEST_F(InputFiles, ARankOpensOnlyTheFilesItReads) {
  std::string good;
  for (int i = 0; i < 100; ++i) good += fmt::format("{{\"id\": \"c{}\", \"text\": \"t\"}}\n", i);
  const Files files{write("a.jsonl", good), write("b.jsonl", std::string("\x1f\x8b\x08\0", 4))};
  const InputListing listing = listInputs(files, "job.input");
  EXPECT_EQ(listing.bytes(), static_cast<int64_t>(good.size()) + 4);
  EXPECT_NO_THROW(CaseReader(listing, "job.input", 0, 2, 1 << 20));
  const std::string reason = refusal([&] { CaseReader(listing, "job.input", 1, 2, 1 << 20); });
  EXPECT_NE(reason.find("'" + files[1] + "' is gzip-compressed"), std::string::npos) << reason;
  EXPECT_NE(refusal([&] { CaseReader(listing, "job.input", 0, 1, 1 << 20); }).find("gzip"),
            std::string::npos);
  // A file of another size than the listing's (grown since, or another node's copy).
  write("a.jsonl", good + "{\"id\": \"late\", \"text\": \"t\"}\n");
  EXPECT_NE(refusal([&] { CaseReader(listing, "job.input", 0, 2, 1 << 20); })
                .find("'" + files[0] + "' (job.input) is " + std::to_string(good.size() + 28) +
                      " bytes here but was " + std::to_string(good.size()) +
                      " when rank 0 listed the input"),
            std::string::npos);
}

TEST(InputsText, OneEntryAsItIsSeveralAsAList) {
  EXPECT_EQ(inputsText({"a.jsonl"}), "a.jsonl");
  EXPECT_EQ(inputsText({"a.jsonl", "parts/", "c-*.jsonl"}), "[a.jsonl, parts/, c-*.jsonl]");
}

TEST(InputLinesTest, OneFileKeepsItsNumbers) {
  const InputLines one({"a.jsonl"}, {1});
  EXPECT_FALSE(one.severalFiles());
  EXPECT_EQ(one.describe(7), "line 7");
  EXPECT_EQ(*one.locate(7).path, "a.jsonl");
  EXPECT_EQ(one.locate(7).line, 7);
  EXPECT_EQ(InputLines().locate(3).path, nullptr);
  EXPECT_EQ(InputLines().describe(3), "line 3");
}

// Random line counts (zero included: empty files, at the start, in the middle, at the end) against
// a walk over every line.
TEST(InputLinesTest, LocateAgreesWithAWalkOverEveryLine) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int files = std::uniform_int_distribution<int>(1, 8)(rng);
    std::vector<std::string> paths;
    std::vector<int64_t> firstLines;
    std::vector<std::pair<int, int64_t>> walk;  // per input line: file, line in it
    int64_t next = 1;
    for (int f = 0; f < files; ++f) {
      const int64_t lines = std::uniform_int_distribution<int>(0, 3)(rng) == 0
                                ? 0
                                : std::uniform_int_distribution<int64_t>(1, 40)(rng);
      paths.push_back(fmt::format("f{}.jsonl", f));
      firstLines.push_back(next);
      for (int64_t i = 1; i <= lines; ++i) walk.emplace_back(f, i);
      next += lines;
    }
    const InputLines names(paths, firstLines);
    for (size_t i = 0; i < walk.size(); ++i) {
      const auto at = names.locate(static_cast<int64_t>(i) + 1);
      ASSERT_EQ(*at.path, paths[walk[i].first]) << "trial " << trial << " line " << i + 1;
      ASSERT_EQ(at.line, walk[i].second) << "trial " << trial << " line " << i + 1;
    }
    if (files > 1 && !walk.empty()) {
      EXPECT_EQ(names.describe(static_cast<int64_t>(walk.size())),
                fmt::format("line {} of '{}'", walk.back().second, paths[walk.back().first]));
    }
  }
}

}  // namespace
}  // namespace eleanor
