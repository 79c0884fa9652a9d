// libFuzzer target: compressed input files (compressed_input.h). The first byte picks the format
// (gzip or zstd) and, from its other bits, a line limit; the rest is read two ways:
//  - as the compressed file itself: CompressedLineReader and countCompressedLines must agree on
//    the number of lines, and jsonLinesFileProblem must answer; damaged data may only throw
//    UserError;
//  - as plain text, compressed here (in one to three members or frames): the reader's lines must
//    be LineReader's of the plain bytes, with lines over the limit counted and not kept.
#include <zlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/line_reader.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/support/compress.h"
#include "worker/cases/compressed_input.h"

namespace {

using eleanor::Compression;
using eleanor::fuzz::violated;

void readCompressed(std::string_view data, Compression kind, int64_t limit) {
  int64_t lines = 0;
  try {
    eleanor::CompressedLineReader reader(data, kind, "fuzz", 1, limit);
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
    if (eleanor::countCompressedLines(data, kind, "fuzz") != lines)
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

void roundTrip(std::string_view text, Compression kind, int64_t limit, int parts) {
  const std::string data = eleanor::testing::compressed(text, kind == Compression::gzip, parts);
  eleanor::LineReader plain(text, eleanor::Range{0, static_cast<int64_t>(text.size())}, 1);
  eleanor::CompressedLineReader reader(data, kind, "fuzz", 1, limit);
  while (const auto expected = plain.next()) {
    const auto line = reader.next();
    if (!line) violated("the reader ended early");
    if (line->number != expected->number) violated("line numbers differ");
    if (line->bytes() != static_cast<int64_t>(expected->text.size()))
      violated("line lengths differ");
    if (line->skippedBytes == 0 && line->text != expected->text) violated("line texts differ");
    if ((line->skippedBytes > 0) != (static_cast<int64_t>(expected->text.size()) > limit))
      violated("a line kept over the limit, or skipped within it");
  }
  if (reader.next()) violated("the reader gave a line after the end");
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
