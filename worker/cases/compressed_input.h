// Compressed input files (gzip, zstd): what a data pipeline's part files often are
// (`part-00000.jsonl.gz`). A compressed stream cannot be entered at a byte offset, so such a
// file is not split between ranks: the rank holding its first byte reads it whole (CaseReader).
// Which files are compressed is decided by their names, from rank 0's listing, before any rank
// opens a file; a name and bytes that disagree are refused (jsonLinesFileProblem).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/line_reader.h"

namespace eleanor {

enum class Compression { none, gzip, zstd };

// By name: "*.gz" is gzip, "*.zst" zstd, anything else none.
Compression compressionOf(std::string_view path);
// The name's ending that says `kind`: ".gz", ".zst"; "" for none.
std::string_view compressionSuffix(Compression kind);

// Decompresses a whole compressed file held in memory (mapped), front to back. Members or
// frames one after another (pigz, bgzip, `cat a.gz b.gz`) are one stream, as for zcat; zero
// bytes after the last gzip member are ignored, as gzip does. Throws UserError naming `path`
// and the compressed offset when the data is damaged, cut short or followed by other bytes.
class Decompressor {
 public:
  Decompressor(std::string_view data, Compression kind, std::string path);
  ~Decompressor();
  Decompressor(Decompressor&&) noexcept;
  Decompressor& operator=(Decompressor&&) noexcept;

  // Up to `capacity` decompressed bytes into `out`; 0 only at the end of the data.
  size_t read(char* out, size_t capacity);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The lines of a compressed file, as LineReader gives a plain file's: numbered from
// `firstLine`, a trailing '\r' dropped, a last line without '\n' included. A line's text is
// valid until the next call. A line longer than `maxLineBytes` is not kept: its text is empty
// and `skippedBytes` holds its length (without the '\r'), so that memory stays bounded by the
// limit (and the 256 KiB buffer).
class CompressedLineReader {
 public:
  CompressedLineReader(std::string_view data, Compression kind, std::string path, int64_t firstLine,
                       int64_t maxLineBytes);

  std::optional<Line> next();

 private:
  // Reads more decompressed bytes after end_, moving the pending part to the front and growing
  // the buffer first where it is full. False at the end of the data.
  bool fill();
  // Passes over the rest of an over-long line whose first bytes are [begin_, end_).
  Line skipLongLine();
  // The line [start, start + length) of the buffer, '\r' dropped; by its length alone where it
  // is over the limit.
  Line take(const char* start, size_t length);

  Decompressor decoder_;
  std::vector<char> buffer_;
  size_t begin_ = 0;    // first byte not yet returned
  size_t end_ = 0;      // end of the decompressed bytes in buffer_
  size_t scanned_ = 0;  // [begin_, scanned_) holds no '\n'
  bool ended_ = false;
  int64_t lineNumber_;
  int64_t maxLineBytes_;
};

// Lines in a compressed file (its newlines, plus a last line without one), reading all of it:
// a damaged or truncated file throws here, before any of its lines is used.
int64_t countCompressedLines(std::string_view data, Compression kind, const std::string& path);

// Why the file at `path` with bytes `data` cannot be read as JSON lines, or nothing:
// notJsonLinesReason on its first bytes, decompressed first where its name says it is
// compressed (only its first 64 KiB: the rest is checked as it is read); a compressed name on
// a file that does not start as such a stream is refused.
std::optional<std::string> jsonLinesFileProblem(const std::string& path, std::string_view data);

}  // namespace eleanor
