// Partition: evenSplit against its arithmetic contract for every small (n, parts) and random
// huge n; lineAlignedSplit against a line-by-line reference (each line owned by the part whose
// byte range holds its first byte) on seeded random texts; countNewlines against std::count.
#include "common/partition.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"

namespace eleanor {
namespace {

constexpr int kMaxParts = 64;
constexpr uint64_t kSeed = 20240611;

// Checks the whole evenSplit contract for one (n, parts); returns "" or the first violation.
std::string evenSplitProblem(int64_t n, int parts) {
  const int64_t smallest = n / parts;
  int64_t expectedBegin = 0;
  for (int p = 0; p < parts; ++p) {
    const Range r = evenSplit(n, parts, p);
    if (r.begin != expectedBegin)
      return fmt::format("part {} begins at {}, the previous part ended at {}", p, r.begin,
                         expectedBegin);
    if (r.size() != smallest && r.size() != smallest + 1)
      return fmt::format("part {} has {} elements, expected {} or {}", p, r.size(), smallest,
                         smallest + 1);
    expectedBegin = r.end;
  }
  if (expectedBegin != n) return fmt::format("the parts end at {}, not n", expectedBegin);
  return "";
}

TEST(PartitionEvenSplit, EverySmallNAndPartsCoverExactlyOnceWithSizesWithinOne) {
  for (int64_t n = 0; n <= 300; ++n) {
    for (int parts = 1; parts <= kMaxParts; ++parts) {
      const std::string problem = evenSplitProblem(n, parts);
      ASSERT_EQ(problem, "") << "n=" << n << " parts=" << parts;
    }
  }
}

TEST(PartitionEvenSplit, RandomAndHugeNStayExact) {
  std::mt19937_64 rng(kSeed);
  std::vector<int64_t> ns = {std::numeric_limits<int64_t>::max(),
                             std::numeric_limits<int64_t>::max() - 1, int64_t{1} << 62,
                             (int64_t{1} << 40) + 7};
  for (int i = 0; i < 200; ++i) {
    const int bits = static_cast<int>(rng() % 63);
    ns.push_back(static_cast<int64_t>(rng() >> (64 - bits - 1)) &
                 std::numeric_limits<int64_t>::max());
  }
  for (const int64_t n : ns) {
    for (int parts = 1; parts <= kMaxParts; ++parts) {
      const std::string problem = evenSplitProblem(n, parts);
      ASSERT_EQ(problem, "") << "seed=" << kSeed << " n=" << n << " parts=" << parts;
    }
  }
}

TEST(PartitionEvenSplit, FewerElementsThanPartsGivesEmptyAndSingletonParts) {
  // 3 over 5: [0,0) [0,1) [1,1) [1,2) [2,3) by the formula index*n/parts.
  const std::vector<Range> expected = {{0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 3}};
  for (int p = 0; p < 5; ++p) EXPECT_EQ(evenSplit(3, 5, p), expected[p]) << "part " << p;
  EXPECT_EQ(evenSplit(0, 1, 0), (Range{0, 0}));
  EXPECT_EQ(evenSplit(10, 3, 0), (Range{0, 3}));
  EXPECT_EQ(evenSplit(10, 3, 1), (Range{3, 6}));
  EXPECT_EQ(evenSplit(10, 3, 2), (Range{6, 10}));
}

TEST(PartitionEvenSplit, BadArgumentsAreInternalErrors) {
  EXPECT_THROW(evenSplit(10, 0, 0), InternalError);
  EXPECT_THROW(evenSplit(10, 2, 2), InternalError);
  EXPECT_THROW(evenSplit(10, 2, -1), InternalError);
  EXPECT_THROW(evenSplit(-1, 2, 0), InternalError);
  EXPECT_EQ(evenSplit(10, 2, 1), (Range{5, 10}));  // still works after the throws
}

// A random text of lines: lengths 0..maxLine (many empty), optional CRLF, optional final '\n'.
std::string randomText(std::mt19937_64& rng, int lines, int maxLine) {
  static const std::string alphabet = "abcXYZ 019\t{}\":\r";
  std::string text;
  const bool crlf = rng() % 3 == 0;
  for (int i = 0; i < lines; ++i) {
    const int length = rng() % 4 == 0 ? 0 : static_cast<int>(rng() % (maxLine + 1));
    for (int c = 0; c < length; ++c) text.push_back(alphabet[rng() % alphabet.size()]);
    if (i + 1 < lines || rng() % 2 == 0) text += crlf ? "\r\n" : "\n";
  }
  return text;
}

// The start offset of every line of `text` (a final line without '\n' included).
std::vector<int64_t> lineStarts(const std::string& text) {
  std::vector<int64_t> starts;
  const auto n = static_cast<int64_t>(text.size());
  for (int64_t i = 0; i < n; ++i) {
    if (i == 0 || text[i - 1] == '\n') starts.push_back(i);
  }
  return starts;
}

// The part whose evenSplit byte range holds byte `pos` (exactly one does).
int byteOwner(int64_t n, int parts, int64_t pos) {
  for (int p = 0; p < parts; ++p) {
    const Range r = evenSplit(n, parts, p);
    if (r.begin <= pos && pos < r.end) return p;
  }
  return -1;
}

TEST(PartitionLineAlignedSplit, RandomTextsMatchTheLineOwnershipReference) {
  std::mt19937_64 rng(kSeed);
  for (int trial = 0; trial < 400; ++trial) {
    const int lines = static_cast<int>(rng() % 40);
    const int maxLine = 1 + static_cast<int>(rng() % (trial % 2 ? 8 : 200));
    const std::string text = randomText(rng, lines, maxLine);
    const auto n = static_cast<int64_t>(text.size());
    const int parts = 1 + static_cast<int>(rng() % kMaxParts);
    const std::string params = fmt::format("seed={} trial={} lines={} maxLine={} n={} parts={}",
                                           kSeed, trial, lines, maxLine, n, parts);

    std::vector<Range> ranges;
    for (int p = 0; p < parts; ++p) ranges.push_back(lineAlignedSplit(text, parts, p));

    // Concatenating the parts gives the text.
    std::string joined;
    int64_t expectedBegin = 0;
    for (int p = 0; p < parts; ++p) {
      const Range r = ranges[p];
      ASSERT_EQ(r.begin, expectedBegin) << params << " part " << p;
      ASSERT_LE(r.begin, r.end) << params << " part " << p;
      ASSERT_TRUE(r.begin == n || r.begin == 0 || text[r.begin - 1] == '\n')
          << params << " part " << p << " begins at " << r.begin << ", not a line start";
      joined += text.substr(r.begin, r.size());
      expectedBegin = r.end;
    }
    ASSERT_EQ(expectedBegin, n) << params;
    ASSERT_EQ(joined, text) << params;

    // Each line lies wholly in the part that owns its first byte.
    const std::vector<int64_t> starts = lineStarts(text);
    for (size_t line = 0; line < starts.size(); ++line) {
      const int64_t begin = starts[line];
      const int64_t end = line + 1 < starts.size() ? starts[line + 1] : n;
      const int owner = byteOwner(n, parts, begin);
      ASSERT_GE(owner, 0) << params;
      const Range r = ranges[owner];
      EXPECT_TRUE(r.begin <= begin && end <= r.end)
          << params << " line " << line + 1 << " [" << begin << ", " << end
          << ") should be in part " << owner << " [" << r.begin << ", " << r.end << ")";
    }
  }
}

TEST(PartitionLineAlignedSplit, HandPickedCases) {
  // "ab\ncd\n" in 2: bytes [0,3) [3,6); line 2 starts at 3, owned by part 1.
  EXPECT_EQ(lineAlignedSplit("ab\ncd\n", 2, 0), (Range{0, 3}));
  EXPECT_EQ(lineAlignedSplit("ab\ncd\n", 2, 1), (Range{3, 6}));
  // One long line: part 0 owns it all, the others are empty at the end.
  EXPECT_EQ(lineAlignedSplit("abcdefgh", 4, 0), (Range{0, 8}));
  EXPECT_EQ(lineAlignedSplit("abcdefgh", 4, 3), (Range{8, 8}));
  // A part boundary right after a '\n' keeps that line start.
  EXPECT_EQ(lineAlignedSplit("a\nb\nc\nd\n", 4, 1), (Range{2, 4}));
  // Empty text.
  EXPECT_EQ(lineAlignedSplit("", 3, 0), (Range{0, 0}));
  EXPECT_EQ(lineAlignedSplit("", 3, 2), (Range{0, 0}));
}

TEST(PartitionCountNewlines, MatchesStdCount) {
  std::mt19937_64 rng(kSeed + 1);
  for (int trial = 0; trial < 500; ++trial) {
    const size_t size = rng() % 300;
    std::string text;
    for (size_t i = 0; i < size; ++i) text.push_back("a\n\r\0x"[rng() % 5]);
    EXPECT_EQ(countNewlines(text), std::count(text.begin(), text.end(), '\n'))
        << "seed=" << kSeed + 1 << " trial=" << trial << " size=" << size;
  }
  EXPECT_EQ(countNewlines(""), 0);
  EXPECT_EQ(countNewlines("\n\n\n"), 3);
  EXPECT_EQ(countNewlines("no newline"), 0);
}

}  // namespace
}  // namespace eleanor
