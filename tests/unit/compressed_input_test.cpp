// Compressed inputs (gzip, zstd): on seeded random texts (blank lines, CRLF, lines longer than
// the reader's buffer, a last line without '\n', several members or frames) the lines equal
// LineReader's of the plain bytes, with over-long lines counted and not kept; damaged,
// truncated and trailing-garbage files are refused naming the file; names and bytes that
// disagree are refused.
#include "worker/cases/compressed_input.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <random>
#include <string>

#include "common/error.h"
#include "common/partition.h"
#include "tests/support/compress.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

using testing::compressed;
using testing::splittable;

int64_t countAll(std::string_view data, Compression kind, const std::string& path) {
  return countCompressedLines(data, kind, path, Range{0, static_cast<int64_t>(data.size())});
}

std::string randomText(std::mt19937_64& rng) {
  std::string text;
  const int lines = std::uniform_int_distribution<int>(0, 60)(rng);
  for (int i = 0; i < lines; ++i) {
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    // Now and then a line over the reader's 256 KiB buffer, to make it grow or skip.
    const size_t length = kind == 0   ? std::uniform_int_distribution<size_t>(0, 700'000)(rng)
                          : kind == 1 ? 0
                                      : std::uniform_int_distribution<size_t>(0, 400)(rng);
    // Long lines of one letter, or of any bytes but '\n', make the compressors write their
    // other kinds of block: RLE (zstd), stored (gzip) or raw (zstd).
    const int fill = kind == 0 ? std::uniform_int_distribution<int>(0, 2)(rng) : 0;
    for (size_t c = 0; c < length; ++c)
      text += fill == 1 ? 'x'
              : fill == 2
                  ? static_cast<char>(std::uniform_int_distribution<int>(0x0B, 0x109)(rng) & 0xFF)
                  : static_cast<char>('a' + std::uniform_int_distribution<int>(0, 25)(rng));
    text += kind == 2 ? "\r\n" : "\n";
  }
  if (!text.empty() && std::uniform_int_distribution<int>(0, 2)(rng) == 0) text.pop_back();
  return text;
}

TEST(CompressedInput, LinesEqualAPlainReadOfTheSameBytes) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    std::mt19937_64 rng(seed);
    const std::string text = randomText(rng);
    const bool gzip = seed % 2 == 0;
    const int parts = std::uniform_int_distribution<int>(1, 4)(rng);
    const std::string data = compressed(text, gzip, parts);
    const Compression kind = gzip ? Compression::gzip : Compression::zstd;
    // A limit under some lines' length (they are skipped), or over all (the buffer grows).
    const int64_t maxLineBytes =
        seed % 3 == 0 ? std::uniform_int_distribution<int64_t>(1, 500)(rng) : int64_t{1} << 20;
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " gzip=" << gzip << " parts=" << parts
                                      << " max=" << maxLineBytes);

    LineReader plain(text, Range{0, static_cast<int64_t>(text.size())}, 5);
    CompressedLineReader reader(data, kind, "x", Range{0, static_cast<int64_t>(data.size())}, 5,
                                maxLineBytes);
    int64_t count = 0;
    while (const auto expected = plain.next()) {
      const auto line = reader.next();
      ASSERT_TRUE(line.has_value()) << "line " << expected->number;
      ++count;
      EXPECT_EQ(line->number, expected->number);
      EXPECT_EQ(line->bytes(), static_cast<int64_t>(expected->text.size()));
      // Exactly the lines over the limit are given by their length alone.
      const bool over = static_cast<int64_t>(expected->text.size()) > maxLineBytes;
      EXPECT_EQ(line->skippedBytes > 0, over) << "line " << expected->number;
      EXPECT_EQ(line->text, over ? std::string_view() : expected->text)
          << "line " << expected->number;
    }
    EXPECT_FALSE(reader.next().has_value());
    EXPECT_FALSE(reader.next().has_value()) << "next() after the end must stay empty";
    EXPECT_EQ(countAll(data, kind, "x"), count);
  }
}

// The data of the parts tests: `text` as bgzip or pzstd write it (in pieces of `piece` bytes),
// now and then with a stream gzip or zstd wrote after them (`cat x.bgz y.gz`); or (`oneStream`)
// as gzip or zstd write it, in one to three members or frames, with no entry point inside.
std::string partsTestData(std::string_view text, bool gzip, size_t piece, bool oneStream,
                          std::mt19937_64& rng) {
  if (oneStream) return compressed(text, gzip, std::uniform_int_distribution<int>(1, 3)(rng));
  const size_t tail =
      std::uniform_int_distribution<int>(0, 3)(rng) == 0 ? text.size() * 2 / 3 : text.size();
  std::string data = splittable(text.substr(0, tail), gzip, piece);
  if (tail < text.size()) data += compressed(text.substr(tail), gzip);
  return data;
}

// bgzip's blocks and pzstd's frames are found before any byte, without decompressing; a file
// gzip or zstd wrote, several members or frames included, has none but its start.
TEST(CompressedInput, EntryPointsAreTheBlocksOrFramesOfParallelCompressors) {
  std::mt19937_64 rng(3);
  std::string text;
  for (int i = 0; i < 4000; ++i) text += "{\"id\": \"c" + std::to_string(rng()) + "\"}\n";
  for (const bool gzip : {true, false}) {
    SCOPED_TRACE(gzip ? "gzip" : "zstd");
    const Compression kind = gzip ? Compression::gzip : Compression::zstd;
    const size_t piece = 9000;
    const std::string data = splittable(text, gzip, piece);
    const auto size = static_cast<int64_t>(data.size());
    // Where the pieces start, from their sizes (pzstd's size frame is 12 bytes); bgzip's empty
    // end-of-file block and the file's end too.
    std::vector<int64_t> starts{0};
    for (size_t begin = 0; begin < text.size(); begin += piece)
      starts.push_back(
          starts.back() +
          static_cast<int64_t>(gzip ? testing::gzipMember(text.substr(begin, piece), true).size()
                                    : 12 + testing::zstdFrame(text.substr(begin, piece)).size()));
    if (starts.back() != size) starts.push_back(size);
    ASSERT_GT(starts.size(), 10U);
    for (int trial = 0; trial < 300; ++trial) {
      const int64_t from = std::uniform_int_distribution<int64_t>(0, size + 5)(rng);
      const int64_t expected = *(std::upper_bound(starts.begin(), starts.end(), from) - 1);
      EXPECT_EQ(entryPointBefore(data, kind, from), expected) << "from " << from;
    }
    for (const int64_t start : starts) EXPECT_EQ(entryPointBefore(data, kind, start), start);
    EXPECT_TRUE(hasEntryPoints(data, kind));
    // A stream after the blocks or frames: where it starts, while a block or frame is near.
    const std::string tail = compressed(text, gzip);
    const std::string joined = data + tail;
    EXPECT_EQ(entryPointBefore(joined, kind, size + 100), size);
    const std::string oneStream = compressed(text, gzip, 3);
    for (const size_t from : {size_t{1}, oneStream.size() / 2, oneStream.size()})
      EXPECT_EQ(entryPointBefore(oneStream, kind, static_cast<int64_t>(from)), 0);
    EXPECT_FALSE(hasEntryPoints(oneStream, kind));
  }
}

// A decoder paused at a byte has given out the same bytes however it got there: started at the
// file's start or at the entry point before the byte, paused at many bytes before or at none,
// read a few bytes at a time or many. Ranks rely on it: two ranks that pause at the byte their
// parts share agree on which line starts where.
TEST(CompressedInput, APauseGivesTheSameBytesWhereverTheDecoderStartedOrPaused) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed);
    const std::string text = randomText(rng);
    const bool gzip = seed % 2 == 0;
    const Compression kind = gzip ? Compression::gzip : Compression::zstd;
    const size_t piece = std::uniform_int_distribution<size_t>(1, 40'000)(rng);
    const std::string data = partsTestData(text, gzip, piece, seed % 3 == 0, rng);
    const auto size = static_cast<int64_t>(data.size());
    std::vector<int64_t> pauses;
    for (int i = std::uniform_int_distribution<int>(1, 30)(rng); i > 0; --i)
      pauses.push_back(std::uniform_int_distribution<int64_t>(0, size)(rng));
    std::sort(pauses.begin(), pauses.end());
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " gzip=" << gzip);

    // Everything a decoder gives out up to a pause at `limit`, read `chunk` bytes at a time.
    const auto readTo = [&](Decompressor& decoder, int64_t limit, size_t chunk) {
      decoder.limitInput(limit);
      std::string out;
      std::string buffer(chunk, '\0');
      while (const size_t got = decoder.read(buffer.data(), chunk)) out.append(buffer, 0, got);
      return out;
    };
    Decompressor paused(data, kind, "x");
    std::string given;
    for (const int64_t limit : pauses) {
      given += readTo(paused, limit, 1 << 16);
      ASSERT_LE(given.size(), text.size());
      EXPECT_EQ(given, text.substr(0, given.size())) << "paused at " << limit;
      // Once, from the start, in small reads.
      Decompressor once(data, kind, "x");
      EXPECT_EQ(readTo(once, limit, std::uniform_int_distribution<size_t>(1, 999)(rng)).size(),
                given.size())
          << "paused at " << limit;
      // From the entry point before the pause: what lies before it, then the rest.
      const int64_t entry = entryPointBefore(data, kind, limit);
      Decompressor before(data, kind, "x");
      Decompressor fromEntry(data, kind, "x", entry);
      EXPECT_EQ(readTo(before, entry, 1 << 16).size() + readTo(fromEntry, limit, 1 << 16).size(),
                given.size())
          << "paused at " << limit << ", started at " << entry;
    }
    given += readTo(paused, size, 1 << 16);
    EXPECT_EQ(given, text);
  }
}

// Parts cut at any byte give every line once, in order, each part as many as
// countCompressedLines says, also when read from the decoder the count kept at the part's start:
// lines that cross a part's end, start right at it, or span several parts (a line over 700 KB)
// included; in files as bgzip and pzstd write them, with a stream of their own at the end or not,
// and in files gzip and zstd write (one stream).
TEST(CompressedInput, PartsGiveEachLineOnceWhereverTheFileIsCut) {
  int split = 0;  // cases where a part after the first held lines
  int oneStreamSplit = 0;
  int keptDecoders = 0;  // parts read from the count's decoder
  for (uint64_t seed = 1; seed <= 90; ++seed) {
    std::mt19937_64 rng(seed);
    std::string text = randomText(rng);
    size_t piece = std::uniform_int_distribution<size_t>(1, 40'000)(rng);
    if (seed % 5 == 0) {  // lines of 10 bytes, and blocks that end where a line does
      text.clear();
      for (int i = std::uniform_int_distribution<int>(0, 3000)(rng); i > 0; --i)
        text += fmt::format("line{:05}\n", i);
      piece = 10 * std::uniform_int_distribution<size_t>(1, 50)(rng);
    }
    const bool gzip = seed % 2 == 0;
    const Compression kind = gzip ? Compression::gzip : Compression::zstd;
    const bool oneStream = seed % 3 == 0;
    const std::string data = partsTestData(text, gzip, piece, oneStream, rng);
    const int64_t maxLineBytes =
        seed % 7 == 0 ? std::uniform_int_distribution<int64_t>(1, 500)(rng) : int64_t{1} << 20;
    const int parts = std::uniform_int_distribution<int>(1, 6)(rng);
    std::vector<int64_t> cuts{0, static_cast<int64_t>(data.size())};
    for (int p = 1; p < parts; ++p)
      cuts.push_back(std::uniform_int_distribution<int64_t>(0, cuts[1])(rng));
    std::sort(cuts.begin(), cuts.end());
    SCOPED_TRACE(::testing::Message()
                 << "seed=" << seed << " gzip=" << gzip << " piece=" << piece
                 << " oneStream=" << oneStream << " parts=" << parts << " max=" << maxLineBytes);

    LineReader plain(text, Range{0, static_cast<int64_t>(text.size())}, 1);
    int64_t number = 1;
    for (size_t p = 0; p + 1 < cuts.size(); ++p) {
      const Range part{cuts[p], cuts[p + 1]};
      std::optional<Decompressor> atPart;
      const int64_t count = countCompressedLines(data, kind, "x", part, &atPart);
      if (p > 0 && count > 0) ++(oneStream ? oneStreamSplit : split);
      // The count's decoder at the part's start: kept for gzip parts that a decoder reaches by
      // decoding its way in (from the file's start or a block before), for no other part.
      EXPECT_EQ(atPart.has_value(),
                gzip && part.size() > 0 && part.begin > entryPointBefore(data, kind, part.begin))
          << "part " << p;
      if (atPart) ++keptDecoders;
      // The part read by a reader that decodes its way in, and by one that starts at the
      // count's decoder: the same lines.
      CompressedLineReader reader(data, kind, "x", part, number, maxLineBytes);
      std::optional<CompressedLineReader> fromCount;
      if (atPart) fromCount.emplace(data, kind, "x", part, number, maxLineBytes, &*atPart);
      for (int64_t i = 0; i < count; ++i) {
        const auto expected = plain.next();
        const auto line = reader.next();
        ASSERT_TRUE(expected.has_value()) << "part " << p << " gives more lines than the file";
        ASSERT_TRUE(line.has_value()) << "part " << p << " ends before its count, at " << i;
        EXPECT_EQ(line->number, expected->number);
        EXPECT_EQ(line->bytes(), static_cast<int64_t>(expected->text.size()));
        const bool over = static_cast<int64_t>(expected->text.size()) > maxLineBytes;
        EXPECT_EQ(line->text, over ? std::string_view() : expected->text)
            << "line " << expected->number;
        if (fromCount) {
          const auto same = fromCount->next();
          ASSERT_TRUE(same.has_value()) << "part " << p << ", from the count's decoder";
          EXPECT_EQ(same->number, line->number);
          EXPECT_EQ(same->bytes(), line->bytes());
          EXPECT_EQ(same->text, line->text) << "line " << line->number;
        }
      }
      EXPECT_FALSE(reader.next().has_value()) << "part " << p << " gives more than its count";
      if (fromCount) {
        EXPECT_FALSE(fromCount->next().has_value()) << "part " << p;
        // Readers copy it: a second one (the duplicate-id pass, a resume) starts there too.
        CompressedLineReader again(data, kind, "x", part, number, maxLineBytes, &*atPart);
        int64_t lines = 0;
        while (again.next()) ++lines;
        EXPECT_EQ(lines, count) << "part " << p << ", the count's decoder read a second time";
      }
      number += count;
    }
    EXPECT_FALSE(plain.next().has_value()) << "lines no part gave";
  }
  EXPECT_GT(split, 20) << "the files were hardly split: the test would not see a wrong split";
  EXPECT_GT(oneStreamSplit, 10) << "one-stream files were hardly split";
  EXPECT_GT(keptDecoders, 20) << "hardly any part was read from the count's decoder";
}

TEST(CompressedInput, DamagedTruncatedOrFollowedByOtherBytesIsRefusedNamingTheFile) {
  std::mt19937_64 rng(7);
  std::string text;
  for (int i = 0; i < 3000; ++i)
    text += "{\"id\": \"c" + std::to_string(rng()) + "\", \"text\": \"t\"}\n";
  for (const bool gzip : {true, false}) {
    const Compression kind = gzip ? Compression::gzip : Compression::zstd;
    const std::string whole = compressed(text, gzip, 2);
    SCOPED_TRACE(gzip ? "gzip" : "zstd");
    EXPECT_EQ(countAll(whole, kind, "d/p.gz"), 3000);
    for (int trial = 0; trial < 20; ++trial) {
      // Cut anywhere but at the end of the first member or frame (a complete stream then).
      const size_t first = compressed(text.substr(0, text.size() / 2), gzip).size();
      size_t cut = std::uniform_int_distribution<size_t>(1, whole.size() - 1)(rng);
      if (cut == first) ++cut;
      const std::string message = refusal([&] { countAll(whole.substr(0, cut), kind, "d/p.gz"); });
      EXPECT_NE(message.find("'d/p.gz'"), std::string::npos) << message;
      EXPECT_TRUE(message.find("cut short") != std::string::npos ||
                  message.find("damaged") != std::string::npos)
          << "cut at " << cut << ": " << message;
    }
    // A changed byte in the compressed data: the checksum (or the format) catches it.
    std::string flipped = whole;
    flipped[whole.size() / 3] ^= 0x20;
    EXPECT_NE(refusal([&] { countAll(flipped, kind, "d/p.gz"); }).find("damaged"),
              std::string::npos);
  }
  // gzip ignores zero padding after the last member, as gzip -d does; anything else is refused.
  const std::string gz = compressed(text, true);
  EXPECT_EQ(countAll(gz + std::string(100, '\0'), Compression::gzip, "p.gz"), 3000);
  EXPECT_NE(refusal([&] {
              countAll(gz + "{\"id\": \"late\"}\n", Compression::gzip, "p.gz");
            }).find("bytes that are not gzip follow the end of its compressed data"),
            std::string::npos);
  EXPECT_NE(refusal([&] {
              countAll(compressed(text, false) + "junk", Compression::zstd, "p.zst");
            }).find("damaged zstd file"),
            std::string::npos);
}

// zstd --long=28 writes a frame whose window is over the decoder's default limit (128 MiB): named
// as such, not as damage.
TEST(CompressedInput, AZstdWindowOverTheLimitIsNamed) {
  const std::string text(1000, 'x');
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, 28);
  std::string out(ZSTD_compressBound(text.size()) + 64, '\0');
  ZSTD_outBuffer output{out.data(), out.size(), 0};
  ZSTD_inBuffer input{text.data(), text.size(), 0};
  // A first call without ending: the frame does not record the content size, so the header
  // carries the window.
  ZSTD_compressStream2(context, &output, &input, ZSTD_e_continue);
  ZSTD_inBuffer none{nullptr, 0, 0};
  while (ZSTD_compressStream2(context, &output, &none, ZSTD_e_end) != 0) {
  }
  ZSTD_freeCCtx(context);
  out.resize(output.pos);
  EXPECT_NE(refusal([&] {
              countAll(out, Compression::zstd, "big.zst");
            }).find("'big.zst' was compressed with a window over zstd's default limit"),
            std::string::npos);
}

TEST(CompressedInput, NameAndBytesMustAgree) {
  EXPECT_EQ(compressionOf("a/part-0.jsonl.gz"), Compression::gzip);
  EXPECT_EQ(compressionOf("a/part-0.jsonl.zst"), Compression::zstd);
  EXPECT_EQ(compressionOf("a.gz/part-0.jsonl"), Compression::none);
  const std::string lines = "{\"id\": \"c1\", \"text\": \"t\"}\n";
  EXPECT_FALSE(jsonLinesFileProblem("p.jsonl.gz", compressed(lines, true)).has_value());
  EXPECT_FALSE(jsonLinesFileProblem("p.jsonl.zst", compressed(lines, false)).has_value());
  // As bgzip and pzstd write them (pzstd's file starts with a skippable frame).
  EXPECT_FALSE(jsonLinesFileProblem("p.jsonl.gz", splittable(lines, true, 10)).has_value());
  EXPECT_FALSE(jsonLinesFileProblem("p.jsonl.zst", splittable(lines, false, 10)).has_value());
  EXPECT_FALSE(jsonLinesFileProblem("empty.jsonl.gz", "").has_value());
  // A name that says compressed on plain bytes, and compressed bytes under a plain name.
  EXPECT_NE(jsonLinesFileProblem("p.jsonl.gz", lines)
                .value_or("")
                .find("'p.jsonl.gz' is named as a gzip file but does not start as one"),
            std::string::npos);
  EXPECT_NE(jsonLinesFileProblem("p.jsonl.zst", compressed(lines, true))
                .value_or("")
                .find("named as a zstd file"),
            std::string::npos);
  EXPECT_NE(jsonLinesFileProblem("p.jsonl", compressed(lines, true))
                .value_or("")
                .find("rename it to 'p.jsonl.gz'"),
            std::string::npos);
  // The decompressed text is checked as a plain file's is.
  const auto array = jsonLinesFileProblem("p.json.gz", compressed("[{\"id\": \"c1\"}]\n", true));
  EXPECT_NE(array.value_or("").find("one JSON array"), std::string::npos) << array.value_or("");
  const auto twice = jsonLinesFileProblem("p.jsonl.gz", compressed(compressed(lines, true), true));
  EXPECT_NE(twice.value_or("").find("gzip-compressed"), std::string::npos) << twice.value_or("");
}

}  // namespace
}  // namespace eleanor
