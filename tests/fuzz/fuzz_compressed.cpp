// libFuzzer target: compressed input files (compressed_input.h). The first byte picks the format
// (gzip or zstd) and, from its other bits, a line limit; the rest is read two ways:
//  - as the compressed file itself: CompressedLineReader and countCompressedLines must agree on
//    the number of lines, and jsonLinesFileProblem must answer; damaged data may only throw
//    UserError;
//  - as plain text, compressed here (in one to three members or frames, and as bgzip or pzstd
//    write it), read in two to four parts cut at even bytes: the reader's lines must be
//    LineReader's of the plain bytes, each once, with lines over the limit counted and not kept.
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/line_reader.h"
#include "common/partition.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/support/compress.h"
#include "worker/cases/compressed_input.h"

namespace {

using eleanor::Compression;
using eleanor::fuzz::violated;

void readCompressed(std::string_view data, Compression kind, int64_t limit) {
  const eleanor::Range whole{0, static_cast<int64_t>(data.size())};
  int64_t lines = 0;
  try {
    eleanor::CompressedLineReader reader(data, kind, "fuzz", whole, 1, limit);
    while (const auto line = reader.next()) {
      ++lines;
      if (line->number != lines) violated("line numbers skip");
      if (line->skippedBytes > 0 && !line->text.empty()) violated("a skipped line kept text");
      if ((line->skippedBytes > 0) != (line->bytes() > limit))
        violated("a line kept over the limit, or skipped within it");
    }
  } catch (const eleanor::UserError&) {
    return;  // damaged data: the counter must refuse it too
  }
  try {
    if (eleanor::countCompressedLines(data, kind, "fuzz", whole) != lines)
      violated("countCompressedLines disagrees with the reader");
  } catch (const eleanor::UserError&) {
    violated("countCompressedLines refused data the reader read");
  }
  try {
    (void)eleanor::jsonLinesFileProblem(kind == Compression::gzip ? "f.gz" : "f.zst", data);
  } catch (const eleanor::UserError&) {
    violated("jsonLinesFileProblem refused by exception data the reader read");
  }
}

// The lines of `data`, read in `parts` parts of even bytes (any byte: one-stream files too), must
// be LineReader's of `text`; each part gives as many as countCompressedLines says.
void readBack(std::string_view text, std::string_view data, Compression kind, int64_t limit,
              int parts) {
  eleanor::LineReader plain(text, eleanor::Range{0, static_cast<int64_t>(text.size())}, 1);
  int64_t number = 1;
  for (int p = 0; p < parts; ++p) {
    const eleanor::Range part = eleanor::evenSplit(static_cast<int64_t>(data.size()), parts, p);
    const int64_t count = eleanor::countCompressedLines(data, kind, "fuzz", part);
    eleanor::CompressedLineReader reader(data, kind, "fuzz", part, number, limit);
    for (int64_t i = 0; i < count; ++i) {
      const auto expected = plain.next();
      const auto line = reader.next();
      if (!expected) violated("the parts hold more lines than the text");
      if (!line) violated("the reader ended before its count");
      if (line->number != expected->number) violated("line numbers differ");
      if (line->bytes() != static_cast<int64_t>(expected->text.size()))
        violated("line lengths differ");
      if (line->skippedBytes == 0 && line->text != expected->text) violated("line texts differ");
      if ((line->skippedBytes > 0) != (static_cast<int64_t>(expected->text.size()) > limit))
        violated("a line kept over the limit, or skipped within it");
    }
    if (reader.next()) violated("the reader gave a line past its count");
    number += count;
  }
  if (plain.next()) violated("a line no part gave");
}

void roundTrip(std::string_view text, Compression kind, int64_t limit, int parts) {
  const bool gzip = kind == Compression::gzip;
  readBack(text, eleanor::testing::compressed(text, gzip, parts), kind, limit, parts + 1);
  // As bgzip or pzstd write it (a piece of random bytes compresses to well under 64 KiB).
  const size_t piece = std::min<size_t>(60'000, 1 + text.size() / 3);
  readBack(text, eleanor::testing::splittable(text, gzip, piece), kind, limit, parts + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Compression kind = (data[0] & 1) != 0 ? Compression::gzip : Compression::zstd;
  const int64_t limit = (data[0] & 2) != 0 ? 1 + (data[0] >> 2) : int64_t{1} << 20;
  const int parts = 1 + (data[0] >> 6) % 3;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  readCompressed(rest, kind, limit);
  roundTrip(rest, kind, limit, parts);
  return 0;
}
