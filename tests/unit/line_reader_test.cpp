// LineReader: line numbers, CRLF, a last line without '\n' and empty lines against a
// straightforward split; and the ranges of lineAlignedSplit, each read with firstLine = 1 + the
// newlines of the parts before it, give every line its number in the whole file.
#include "common/line_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/partition.h"

namespace eleanor {
namespace {

constexpr uint64_t kSeed = 77;
constexpr int kMaxParts = 16;

struct OwnedLine {
  int64_t number;
  std::string text;
  bool operator==(const OwnedLine&) const = default;
};

std::ostream& operator<<(std::ostream& out, const OwnedLine& line) {
  return out << line.number << ":'" << line.text << "'";
}

// The reference: split at '\n', drop one '\r' before it, no line after a final '\n'.
std::vector<OwnedLine> referenceLines(const std::string& text) {
  std::vector<OwnedLine> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    const size_t next = end == std::string::npos ? text.size() : end + 1;
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back({static_cast<int64_t>(lines.size()) + 1, line});
    start = next;
  }
  return lines;
}

std::vector<OwnedLine> readAll(std::string_view data, Range range, int64_t firstLine) {
  std::vector<OwnedLine> lines;
  LineReader reader(data, range, firstLine);
  while (auto line = reader.next()) lines.push_back({line->number, std::string(line->text)});
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.position(), range.end);
  EXPECT_FALSE(reader.next().has_value()) << "next() after the end must stay empty";
  return lines;
}

TEST(LineReader, NumbersCrlfEmptyLinesAndAFinalLineWithoutNewline) {
  const std::string text = "first\r\n\nthird\n\r\nfifth\r";
  const std::vector<OwnedLine> expected = {
      {1, "first"}, {2, ""}, {3, "third"}, {4, ""}, {5, "fifth"}};
  EXPECT_EQ(readAll(text, {0, static_cast<int64_t>(text.size())}, 1), expected);
}

TEST(LineReader, OnlyOneTrailingCarriageReturnIsStripped) {
  const std::string text = "a\r\r\nb\rc\n";
  const std::vector<OwnedLine> expected = {{1, "a\r"}, {2, "b\rc"}};
  EXPECT_EQ(readAll(text, {0, static_cast<int64_t>(text.size())}, 1), expected);
}

TEST(LineReader, EmptyTextAndLoneNewline) {
  EXPECT_TRUE(readAll("", {0, 0}, 1).empty());
  const std::vector<OwnedLine> one = {{1, ""}};
  EXPECT_EQ(readAll("\n", {0, 1}, 1), one);
  const std::vector<OwnedLine> two = {{1, ""}, {2, ""}};
  EXPECT_EQ(readAll("\n\n", {0, 2}, 1), two);
}

TEST(LineReader, ARangeStopsAtItsEndAndNumbersFromFirstLine) {
  const std::string text = "l1\nl2\nl3\nl4\n";
  // [3, 9) holds "l2\nl3\n"; the line at 3 is line 2 of the file.
  const std::vector<OwnedLine> expected = {{2, "l2"}, {3, "l3"}};
  EXPECT_EQ(readAll(text, {3, 9}, 2), expected);
  LineReader reader(text, {3, 9}, 2);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.position(), 3);
  reader.next();
  EXPECT_EQ(reader.position(), 6);
}

std::string randomText(std::mt19937_64& rng) {
  static const std::string alphabet = "xyz {}\"\t\r";
  std::string text;
  const int lines = static_cast<int>(rng() % 60);
  const bool crlf = rng() % 2 == 0;
  for (int i = 0; i < lines; ++i) {
    const int length = rng() % 3 == 0 ? 0 : static_cast<int>(rng() % 30);
    for (int c = 0; c < length; ++c) text.push_back(alphabet[rng() % alphabet.size()]);
    if (i + 1 < lines || rng() % 2 == 0) text += crlf ? "\r\n" : "\n";
  }
  return text;
}

TEST(LineReader, SplitRangesGiveGloballyCorrectNumbers) {
  std::mt19937_64 rng(kSeed);
  for (int trial = 0; trial < 300; ++trial) {
    const std::string text = randomText(rng);
    const int parts = 1 + static_cast<int>(rng() % kMaxParts);
    const std::string params =
        fmt::format("seed={} trial={} size={} parts={}", kSeed, trial, text.size(), parts);
    const std::vector<OwnedLine> expected = referenceLines(text);

    std::vector<OwnedLine> got;
    int64_t firstLine = 1;
    for (int p = 0; p < parts; ++p) {
      const Range range = lineAlignedSplit(text, parts, p);
      const std::vector<OwnedLine> mine = readAll(text, range, firstLine);
      got.insert(got.end(), mine.begin(), mine.end());
      firstLine += countNewlines(std::string_view(text).substr(range.begin, range.size()));
    }
    ASSERT_EQ(got, expected) << params;
  }
}

}  // namespace
}  // namespace eleanor
