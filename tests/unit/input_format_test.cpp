// notJsonLinesReason: each compressed (but gzip and zstd named so), binary, wide-text or
// JSON-array file is refused with its format's name and the command that converts it; seeded
// random JSON-lines files (BOM, CRLF, blank and indented lines, a first line that is itself an
// array) are never refused.
#include "worker/cases/input_format.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace eleanor {
namespace {

constexpr uint64_t kSeed = 20261207;

std::string refusal(std::string_view data, std::string_view path = "in/cases.jsonl") {
  const auto reason = notJsonLinesReason(path, data);
  if (!reason) {
    ADD_FAILURE() << "accepted: " << nlohmann::json(std::string(data)).dump();
    return {};
  }
  EXPECT_NE(reason->find(fmt::format("'{}'", path)), std::string::npos) << *reason;
  return *reason;
}

void expectContains(const std::string& text, std::string_view part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

TEST(InputFormat, CompressedFilesNameTheirFormatAndTheCommandThatDecompresses) {
  struct Format {
    std::string bytes, name, command;
  };
  const Format formats[] = {
      {std::string("\x1F\x8B\x08\x00", 4), "gzip-compressed", "zcat"},
      {"\x28\xB5\x2F\xFD\x04\x58", "zstd-compressed", "zstdcat"},
      {std::string("\xFD"
                   "7zXZ\x00\x00",
                   7),
       "xz-compressed", "xzcat"},
      {"BZh91AY&SY", "bzip2-compressed", "bzcat"},
      {"\x04\x22\x4D\x18\x64\x40", "lz4-compressed", "lz4cat"},
      {std::string("PK\x03\x04\x14\x00", 6), "a zip archive", "unzip -p"},
  };
  for (const Format& format : formats) {
    SCOPED_TRACE(format.name);
    const std::string reason = refusal(format.bytes + "rest of the stream");
    expectContains(reason, format.name);
    expectContains(reason, format.command + " 'in/cases.jsonl'");
    // gzip and zstd are read where the name says so (compressed_input.h); the others are not.
    if (format.command == "zcat")
      expectContains(reason, "its name does not end in .gz: rename it to 'in/cases.jsonl.gz'");
    else if (format.command == "zstdcat")
      expectContains(reason, "its name does not end in .zst: rename it to 'in/cases.jsonl.zst'");
    else
      expectContains(reason, "only gzip (.gz) and zstd (.zst) files are read compressed");
  }
  // The suggested output drops the compressed suffix, or adds .jsonl where there is none.
  expectContains(refusal(std::string("\x1F\x8B\x08", 3), "d/cases.jsonl.gz"),
                 "zcat 'd/cases.jsonl.gz' > 'd/cases.jsonl'");
  expectContains(refusal("\x28\xB5\x2F\xFD", "cases.zst"), "zstdcat 'cases.zst' > 'cases'");
  expectContains(refusal(std::string("\xFD"
                                     "7zXZ\x00",
                                     6),
                         "cases"),
                 "> 'cases.jsonl'");
  // gzip under another name: renaming it is the fix (decompressing keeps the rename's name free).
  expectContains(refusal(std::string("\x1F\x8B\x08", 3), "cases"),
                 "rename it to 'cases.gz' (a file named so is read decompressed), or "
                 "decompress it into another file (zcat 'cases' > NEW.jsonl)");
  // pzstd's files start with a skippable frame: zstd all the same.
  expectContains(refusal(std::string("\x50\x2A\x4D\x18\x04\x00\x00\x00", 8), "cases"),
                 "'cases' is zstd-compressed, but its name does not end in .zst");
}

TEST(InputFormat, WideTextNamesItsEncodingFromTheByteOrderMark) {
  const std::u16string line = u"{\"id\": \"c1\", \"text\": \"t\"}\n";
  std::string utf16le("\xFF\xFE", 2);
  for (const char16_t unit : line) {
    utf16le.push_back(static_cast<char>(unit & 0xFF));
    utf16le.push_back(static_cast<char>(unit >> 8));
  }
  std::string reason = refusal(utf16le);
  expectContains(reason, "UTF-16LE text");
  expectContains(reason, "iconv -f UTF-16LE -t UTF-8 'in/cases.jsonl' > 'in/cases.utf8.jsonl'");
  expectContains(refusal(std::string("\xFE\xFF\x00{", 4)), "UTF-16BE");
  // UTF-32LE's mark begins with UTF-16LE's: the longer one is recognised.
  expectContains(refusal(std::string("\xFF\xFE\x00\x00{\x00\x00\x00", 8)), "UTF-32LE");
  expectContains(refusal(std::string("\x00\x00\xFE\xFF\x00\x00\x00{", 8)), "UTF-32BE");
  // Without its mark, UTF-16 is caught by its NUL bytes, at the first one's offset.
  reason = refusal(utf16le.substr(2));
  expectContains(reason, "NUL byte at offset 1");
  expectContains(reason, "iconv -f UTF-16LE");
}

TEST(InputFormat, OtherBinaryFormatsAreRefused) {
  expectContains(refusal("\x93NUMPY\x01\x00", "corpus/embeddings.npy"), "NumPy array file");
  expectContains(refusal("PAR1\x15\x04"), "Parquet file");
  std::string sqlite("SQLite format 3");
  sqlite.push_back('\0');
  expectContains(refusal(sqlite), "NUL byte at offset 15");
  // Past the first 64 bytes a NUL is one bad line's business, not the file's.
  std::string late(64, ' ');
  late += std::string("{\"id\": \"x\0\"}", 12);
  EXPECT_FALSE(notJsonLinesReason("in/cases.jsonl", late));
}

TEST(InputFormat, OneJsonArrayIsRefusedAndAFirstLineArrayIsNot) {
  const std::string pretty = "[\n  {\"id\": \"c1\", \"text\": \"a\"},\n  {\"id\": \"c2\"}\n]\n";
  std::string reason = refusal(pretty, "cases.json");
  expectContains(reason, "one JSON array");
  expectContains(reason, "jq -c '.[]' 'cases.json' > 'cases.jsonl'");
  expectContains(refusal("\xEF\xBB\xBF  [ \r\n{\"id\": \"c1\"}\r\n]"), "one JSON array");
  expectContains(refusal("[{\"id\": \"c1\"}, {\"id\": \"c2\"}]\n\n  \n"), "one JSON array");
  expectContains(refusal("[{\"id\": \"c1\"}, {\"id\": \"c2\"}]"), "one JSON array");
  // A JSONL file whose first line is an array: that line is an error, the others are cases.
  EXPECT_FALSE(notJsonLinesReason("in/cases.jsonl", "[1, 2]\n{\"id\": \"c2\", \"text\": \"t\"}\n"));
  // "BZh" without bzip2's block size digit is text (one bad line), not bzip2.
  EXPECT_FALSE(notJsonLinesReason("in/cases.jsonl", "BZh is not JSON\n{\"id\": \"c2\"}\n"));
}

TEST(InputFormat, SeededRandomJsonLinesFilesAreNeverRefused) {
  std::mt19937_64 rng(kSeed);
  EXPECT_FALSE(notJsonLinesReason("empty.jsonl", ""));
  for (int trial = 0; trial < 500; ++trial) {
    std::string file;
    if (rng() % 4 == 0) file += "\xEF\xBB\xBF";
    const int lines = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < lines; ++i) {
      if (rng() % 5 == 0) file += std::string(rng() % 3, ' ') + "\n";  // blank line
      nlohmann::json record = {{"id", fmt::format("c{}", rng() % 1000)}};
      std::string text;
      for (int c = 0, n = static_cast<int>(rng() % 40); c < n; ++c)
        text.push_back(static_cast<char>(rng() % 128));  // control characters escape
      record["text"] = text;
      if (rng() % 2) record["context"] = {{"domain", "health"}, {"tags", {1, 2}}};
      file += std::string(rng() % 3, ' ') + record.dump() + (rng() % 2 ? "\r\n" : "\n");
    }
    if (rng() % 3 == 0) file.pop_back();  // no final line end
    SCOPED_TRACE(fmt::format("seed {} trial {}", kSeed, trial));
    const auto reason = notJsonLinesReason("random.jsonl", file);
    EXPECT_FALSE(reason) << *reason << "\n" << nlohmann::json(file).dump();
  }
}

}  // namespace
}  // namespace eleanor
