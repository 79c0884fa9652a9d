// IndexSpool and the index build's identity: a resume keeps exactly what the last commit held
// (appends after it are cut off, at any block), copyInto writes those bytes at an offset, a
// staging file shorter than its checkpoint or missing is refused naming it, and a resume with
// another input, embedder or world size is refused naming which.
#include "worker/index_staging.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

constexpr uint64_t kSeed = 4242;

// A block of `rows` rows of `dim` seeded values, their meta lines and some error lines.
struct Block {
  int64_t lines = 0;
  std::vector<float> rows;
  std::string meta;
  std::string errors;
  int64_t errorCount = 0;
};

Block randomBlock(std::mt19937_64& rng, int64_t dim, int index) {
  Block b;
  const int64_t rows = std::uniform_int_distribution<int64_t>(0, 5)(rng);
  b.errorCount = std::uniform_int_distribution<int64_t>(0, 2)(rng);
  b.lines = rows + b.errorCount + std::uniform_int_distribution<int64_t>(0, 1)(rng);
  std::normal_distribution<float> value;
  for (int64_t i = 0; i < rows * dim; ++i) b.rows.push_back(value(rng));
  for (int64_t i = 0; i < rows; ++i) b.meta += fmt::format("{{\"id\": \"b{}r{}\"}}\n", index, i);
  for (int64_t i = 0; i < b.errorCount; ++i)
    b.errors += fmt::format("{{\"line\": {}, \"reason\": \"bad\"}}\n", index * 100 + i);
  return b;
}

void append(IndexSpool& spool, const Block& b) {
  spool.append(b.lines, b.rows, b.meta, b.errors, b.errorCount);
}

class IndexStagingTest : public ScratchDirTest {};

TEST_F(IndexStagingTest, ResumeKeepsExactlyTheLastCommitAtEveryBlock) {
  std::mt19937_64 rng(kSeed);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t dim = std::uniform_int_distribution<int64_t>(1, 9)(rng);
    const int blocks = std::uniform_int_distribution<int>(1, 8)(rng);
    const int committedBlocks = std::uniform_int_distribution<int>(0, blocks)(rng);
    const std::string staging = path(fmt::format("t{}", trial));
    std::filesystem::create_directories(staging);
    SCOPED_TRACE(fmt::format("seed {} trial {}: dim {}, {} blocks, commit after {}", kSeed, trial,
                             dim, blocks, committedBlocks));
    std::vector<Block> written;
    {
      IndexSpool spool(staging, 3, dim, /*resume=*/false);
      for (int i = 0; i < blocks; ++i) {
        written.push_back(randomBlock(rng, dim, i));
        append(spool, written.back());
        if (i + 1 == committedBlocks) spool.commit();
      }
    }  // killed: what came after the commit is on disk but not committed
    IndexSpool resumed(staging, 3, dim, /*resume=*/true);
    IndexRankProgress expected;
    std::vector<float> rows;
    std::string meta, errors;
    for (int i = 0; i < committedBlocks; ++i) {
      const Block& b = written[i];
      expected.lines += b.lines;
      expected.rows += static_cast<int64_t>(b.rows.size()) / dim;
      expected.metaBytes += static_cast<int64_t>(b.meta.size());
      expected.errorBytes += static_cast<int64_t>(b.errors.size());
      expected.errors += b.errorCount;
      rows.insert(rows.end(), b.rows.begin(), b.rows.end());
      meta += b.meta;
      errors += b.errors;
    }
    const IndexRankProgress& got = resumed.progress();
    EXPECT_EQ(got.lines, expected.lines);
    EXPECT_EQ(got.rows, expected.rows);
    EXPECT_EQ(got.metaBytes, expected.metaBytes);
    EXPECT_EQ(got.errorBytes, expected.errorBytes);
    EXPECT_EQ(got.errors, expected.errors);
    // The resumed spool appends after the commit, and its files hold nothing else.
    const Block more = randomBlock(rng, dim, 99);
    append(resumed, more);
    rows.insert(rows.end(), more.rows.begin(), more.rows.end());
    meta += more.meta;
    errors += more.errors;
    EXPECT_EQ(readFile(resumed.path("meta")), meta);
    EXPECT_EQ(resumed.read("errors"), errors);
    const std::string rowBytes(reinterpret_cast<const char*>(rows.data()),
                               rows.size() * sizeof(float));
    EXPECT_EQ(readFile(resumed.path("rows")), rowBytes);
    // copyInto: the rows at an offset of a file that exists, the bytes around them untouched.
    const std::string target =
        write(fmt::format("t{}.out", trial), std::string(7 + rowBytes.size() + 5, 'x'));
    resumed.copyInto("rows", target, 7);
    EXPECT_EQ(readFile(target), std::string(7, 'x') + rowBytes + std::string(5, 'x'));
  }
}

TEST_F(IndexStagingTest, AFreshStartEmptiesTheRanksFiles) {
  const std::string staging = dir_.string();
  {
    IndexSpool spool(staging, 0, 2, false);
    spool.append(3, std::vector<float>{1, 2, 3, 4}, "a\nb\n", "e\n", 1);
    spool.commit();
  }
  IndexSpool fresh(staging, 0, 2, false);
  EXPECT_EQ(fresh.progress().lines, 0);
  EXPECT_EQ(readFile(fresh.path("rows")), "");
  EXPECT_EQ(readFile(fresh.path("meta")), "");
  // A resume of a rank that never committed since its fresh start (the old commit is gone with
  // it) starts from nothing, cutting what it appended.
  fresh.append(1, std::vector<float>{5, 6}, "c\n", "", 0);
  IndexSpool resumed(staging, 0, 2, true);
  EXPECT_EQ(resumed.progress().lines, 0);
  EXPECT_EQ(resumed.progress().rows, 0);
  EXPECT_EQ(readFile(resumed.path("rows")), "");
  EXPECT_EQ(readFile(resumed.path("meta")), "");
}

TEST_F(IndexStagingTest, AResumedRankThatNeverMadeItsFilesStartsEmpty) {
  // (killed between rank 0's build.json and its own first files)
  IndexSpool resumed(dir_.string(), 2, 3, true);
  EXPECT_EQ(resumed.progress().lines, 0);
  resumed.append(1, std::vector<float>{1, 2, 3}, "m\n", "", 0);
  EXPECT_EQ(readFile(resumed.path("meta")), "m\n");
}

TEST_F(IndexStagingTest, AStagingFileShorterThanItsCheckpointOrMissingIsRefused) {
  const std::string staging = dir_.string();
  {
    IndexSpool spool(staging, 1, 4, false);
    spool.append(2, std::vector<float>(8, 1.0f), "m1\nm2\n", "", 0);
    spool.commit();
  }
  ASSERT_EQ(::truncate((staging + "/rank-00001.meta.jsonl").c_str(), 3), 0);
  try {
    IndexSpool(staging, 1, 4, true);
    FAIL() << "a short staging file was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("rank-00001.meta.jsonl' is shorter than its checkpoint"),
              std::string::npos)
        << e.what();
  }
  ASSERT_EQ(::unlink((staging + "/rank-00001.rows.f32").c_str()), 0);
  try {
    IndexSpool(staging, 1, 4, true);
    FAIL() << "a missing staging file was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("rank-00001.rows.f32' is missing"), std::string::npos)
        << e.what();
  }
}

TEST_F(IndexStagingTest, BuildIdentityRoundTripsAndEachChangeIsRefusedByName) {
  const std::string staging = path("corpus/.eleanor-index-partial");
  EXPECT_FALSE(hasIndexStaging(staging));
  EXPECT_THROW(readIndexBuildIdentity(staging), UserError);
  write("corpus/.eleanor-index-partial/rank-00007.rows.f32", "left from a build on 8 ranks");
  const IndexBuildIdentity saved{"size 10, modified 1.0", "abc123", 4};
  startIndexStaging(staging, saved);
  EXPECT_TRUE(hasIndexStaging(staging));
  EXPECT_FALSE(std::filesystem::exists(staging + "/rank-00007.rows.f32"));
  const IndexBuildIdentity read = readIndexBuildIdentity(staging);
  EXPECT_EQ(read.input, saved.input);
  EXPECT_EQ(read.settings, saved.settings);
  EXPECT_EQ(read.worldSize, saved.worldSize);
  EXPECT_EQ(indexResumeRefusal(read, saved), "");

  IndexBuildIdentity other = saved;
  other.input = "size 11, modified 2.0";
  EXPECT_NE(indexResumeRefusal(saved, other).find("precedents file changed"), std::string::npos);
  other = saved;
  other.settings = "def456";
  EXPECT_NE(indexResumeRefusal(saved, other).find("embedder"), std::string::npos);
  other = saved;
  other.worldSize = 2;
  EXPECT_NE(indexResumeRefusal(saved, other).find("began on 4 ranks and this one has 2"),
            std::string::npos);

  write("corpus/.eleanor-index-partial/build.json", "{\"input\": ");
  EXPECT_THROW(readIndexBuildIdentity(staging), UserError);
}

}  // namespace
}  // namespace eleanor
