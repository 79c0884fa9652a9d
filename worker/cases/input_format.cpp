#include "worker/cases/input_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "worker/cases/compressed_input.h"

namespace eleanor {
namespace {

bool startsWith(std::string_view data, std::string_view prefix) {
  return data.substr(0, prefix.size()) == prefix;
}

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool isJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Where the converted file could go: `path` with `suffix` replaced by `replacement`
// ("cases.jsonl.gz" -> "cases.jsonl", "cases.json" -> "cases.jsonl"), or with ".jsonl" added
// when it does not end in `suffix`.
std::string convertedPath(std::string_view path, std::string_view suffix,
                          std::string_view replacement = "") {
  if (!suffix.empty() && endsWith(path, suffix) && path.size() > suffix.size())
    return fmt::format("{}{}", path.substr(0, path.size() - suffix.size()), replacement);
  return fmt::format("{}.jsonl", path);
}

struct CompressedFormat {
  std::string_view magic;
  std::string_view name;
  std::string_view suffix;
  std::string_view command;  // writes the decompressed bytes to stdout
};

constexpr std::array kCompressedFormats{
    CompressedFormat{"\x1F\x8B", "gzip-compressed", ".gz", "zcat"},
    CompressedFormat{"\x28\xB5\x2F\xFD", "zstd-compressed", ".zst", "zstdcat"},
    // pzstd starts with a skippable frame holding the size of its first frame.
    CompressedFormat{"\x50\x2A\x4D\x18", "zstd-compressed", ".zst", "zstdcat"},
    CompressedFormat{std::string_view("\xFD"
                                      "7zXZ\x00",
                                      6),
                     "xz-compressed", ".xz", "xzcat"},
    CompressedFormat{"BZh", "bzip2-compressed", ".bz2", "bzcat"},
    CompressedFormat{"\x04\x22\x4D\x18", "lz4-compressed", ".lz4", "lz4cat"},
    CompressedFormat{"PK\x03\x04", "a zip archive", ".zip", "unzip -p"},
};

struct TextEncoding {
  std::string_view byteOrderMark;
  std::string_view name;
};

// UTF-32 first: its little-endian mark begins with UTF-16's.
constexpr std::array kWideEncodings{
    TextEncoding{std::string_view("\xFF\xFE\x00\x00", 4), "UTF-32LE"},
    TextEncoding{std::string_view("\x00\x00\xFE\xFF", 4), "UTF-32BE"},
    TextEncoding{"\xFF\xFE", "UTF-16LE"},
    TextEncoding{"\xFE\xFF", "UTF-16BE"},
};

// The first line without a UTF-8 byte order mark, surrounding blanks and its line end.
std::string_view firstLineTrimmed(std::string_view data, size_t* lineEnd) {
  *lineEnd = std::min(data.find('\n'), data.size());
  std::string_view line = data.substr(0, *lineEnd);
  if (startsWith(line, "\xEF\xBB\xBF")) line.remove_prefix(3);
  while (!line.empty() && isJsonSpace(line.front())) line.remove_prefix(1);
  while (!line.empty() && isJsonSpace(line.back())) line.remove_suffix(1);
  return line;
}

bool onlyBlanksAfter(std::string_view data, size_t pos) {
  for (; pos < data.size(); ++pos)
    if (!isJsonSpace(data[pos])) return false;
  return true;
}

}  // namespace

std::optional<std::string> notJsonLinesReason(std::string_view path, std::string_view data) {
  for (const CompressedFormat& format : kCompressedFormats) {
    // bzip2's magic is "BZh" and a block size digit; three ASCII letters alone could be text.
    if (!startsWith(data, format.magic)) continue;
    if (format.magic == "BZh" && (data.size() < 4 || data[3] < '1' || data[3] > '9')) continue;
    // gzip and zstd files are read as they are where their names say what they are
    // (compressed_input.h).
    const Compression readable = compressionOf(format.suffix);
    if (readable != Compression::none && compressionOf(path) != readable)
      return fmt::format(
          "'{}' is {}, but its name does not end in {}: rename it to '{}{}' (a file named so is "
          "read decompressed), or decompress it into another file ({} '{}' > NEW.jsonl)",
          path, format.name, format.suffix, path, format.suffix, format.command, path);
    return fmt::format(
        "'{}' is {}, not JSON lines: only gzip (.gz) and zstd (.zst) files are read compressed; "
        "decompress it first ({} '{}' > '{}') and give that file",
        path, format.name, format.command, path, convertedPath(path, format.suffix));
  }
  for (const TextEncoding& encoding : kWideEncodings) {
    if (!startsWith(data, encoding.byteOrderMark)) continue;
    return fmt::format(
        "'{}' is {} text (its byte order mark says so), not UTF-8: convert it "
        "first (iconv -f {} -t UTF-8 '{}' > '{}') and give that file",
        path, encoding.name, encoding.name, path, convertedPath(path, ".jsonl", ".utf8.jsonl"));
  }
  if (startsWith(data, "\x93NUMPY"))
    return fmt::format(
        "'{}' is a NumPy array file, not JSON lines: an embeddings.npy belongs in "
        "a corpus folder (job.precedents); the input is the JSONL file of records",
        path);
  if (startsWith(data, "PAR1"))
    return fmt::format(
        "'{}' is a Parquet file, not JSON lines: export it to JSON lines first "
        "(pandas: read_parquet('{}').to_json(..., orient='records', lines=True))",
        path, path);
  // JSON text never holds a raw NUL byte (a string writes it \u0000); other binary formats, and
  // UTF-16 without its mark, hold them from their first bytes.
  constexpr size_t kBinaryProbeBytes = 64;
  if (const size_t nul = data.substr(0, kBinaryProbeBytes).find('\0');
      nul != std::string_view::npos)
    return fmt::format(
        "'{}' holds a NUL byte at offset {}, which JSON text never does: it is a "
        "binary file or UTF-16 text without a byte order mark, not JSON lines "
        "(`file '{}'` says which; iconv -f UTF-16LE -t UTF-8 converts the latter)",
        path, nul, path);
  size_t lineEnd = 0;
  const std::string_view line = firstLineTrimmed(data, &lineEnd);
  // A pretty-printed array opens with "[" alone on its line; a compact one is a single line.
  // A JSONL file whose first line merely is an array keeps its other lines: that line alone is
  // an error.
  if (line == "[" || (startsWith(line, "[") && onlyBlanksAfter(data, lineEnd)))
    return fmt::format(
        "'{}' is one JSON array, not JSON lines (one object per line): convert it "
        "first (jq -c '.[]' '{}' > '{}') and give that file",
        path, path, convertedPath(path, ".json", ".jsonl"));
  return std::nullopt;
}

}  // namespace eleanor
