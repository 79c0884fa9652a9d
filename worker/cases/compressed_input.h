// Compressed input files (gzip, zstd): what a data pipeline's part files often are
// (`part-00000.jsonl.gz`). A compressed stream can be entered only where it was written in
// independent pieces that the file says where to find: the blocks of a file bgzip wrote, the
// frames of one pzstd wrote (entryPointNear). Such a file is split between ranks at those
// points; a file gzip or zstd wrote is one stream, read whole by the rank holding its first byte
// (CaseReader). Which files are compressed is decided by their names, from rank 0's listing,
// before any rank opens a file; a name and bytes that disagree are refused (jsonLinesFileProblem).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/line_reader.h"
#include "common/partition.h"

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

// Where a decoder can start in the compressed file `data`, near byte `from`: 0 for 0; then the
// next block of a file bgzip wrote (BGZF: each gzip member's extra field holds its size; blocks
// are at most 64 KiB apart), or the nearer frame, before or after, of one pzstd wrote (a
// skippable frame before each frame holds its size; frames hold megabytes); data.size() where
// none follows, as in a file gzip or zstd wrote, which is one stream (read whole by the part
// holding its first byte). Found without decompressing: bgzip's next block by its header, within
// 64 KiB of `from`, and pzstd's frames walked by their sizes from the start. Never decreases as
// `from` grows.
int64_t entryPointNear(std::string_view data, Compression kind, int64_t from);

// `bytes` with both ends moved to entry points (as lineAlignedRange moves them to line starts):
// ranges that tile [0, data.size()) give parts that tile it too, each empty or starting where a
// decoder can.
Range entryAlignedRange(std::string_view data, Compression kind, Range bytes);

// Whether the file has an entry point other than its ends: whether ranks can split it.
bool splitsBetweenRanks(std::string_view data, Compression kind);

// The lines of a part of a compressed file (entryAlignedRange), as LineReader gives a plain
// file's: numbered from `firstLine`, a trailing '\r' dropped, a last line without '\n'
// included. The lines of a part are those that start in its decompressed bytes, or right at
// their end, except the first where the part does not start the file (it belongs to the part
// before, which reads its line on past its own end to the '\n'); so parts that tile a file give
// each of its lines once. A line's text is valid until the next call. A line longer than
// `maxLineBytes` is not kept: its text is empty and `skippedBytes` holds its length (without the
// '\r'), so that memory stays bounded by the limit (and the 256 KiB buffer).
class CompressedLineReader {
 public:
  CompressedLineReader(std::string_view data, Compression kind, std::string path, Range part,
                       int64_t firstLine, int64_t maxLineBytes);

  std::optional<Line> next();

 private:
  // Reads more decompressed bytes after end_, moving the pending part to the front and growing
  // the buffer first where it is full; past the part's end, from the rest of the file. False at
  // the end of the data.
  bool fill();
  // Passes over the line starting at begin_ to its '\n' (or the end of the data) without
  // keeping it: its length, without a trailing '\r'.
  int64_t passLine();
  // An over-long line whose first bytes are [begin_, end_), by its length alone.
  Line skipLongLine();
  // The line [start, start + length) of the buffer, '\r' dropped; by its length alone where it
  // is over the limit.
  Line take(const char* start, size_t length);

  Compression kind_;
  std::string path_;
  std::string_view after_;  // the file after the part
  Decompressor decoder_;    // the part's bytes, then after_'s
  std::vector<char> buffer_;
  size_t begin_ = 0;        // first byte not yet returned
  size_t end_ = 0;          // end of the decompressed bytes in buffer_
  size_t scanned_ = 0;      // [begin_, scanned_) holds no '\n'
  int64_t dropped_ = 0;     // decompressed bytes before buffer_[0]
  int64_t partBytes_ = -1;  // decompressed bytes of the part, once read to its end
  bool skipFirst_;          // the part's first line belongs to the part before
  bool ended_ = false;
  int64_t lineNumber_;
  int64_t maxLineBytes_;
};

// How many lines CompressedLineReader gives for `part`, reading all of it (its newlines, and
// whether a decompressed byte follows its end): a damaged or truncated file throws here, before
// any of its lines is used.
int64_t countCompressedLines(std::string_view data, Compression kind, const std::string& path,
                             Range part);

// Why the file at `path` with bytes `data` cannot be read as JSON lines, or nothing:
// notJsonLinesReason on its first bytes, decompressed first where its name says it is
// compressed (only its first 64 KiB: the rest is checked as it is read); a compressed name on
// a file that does not start as such a stream is refused.
std::optional<std::string> jsonLinesFileProblem(const std::string& path, std::string_view data);

}  // namespace eleanor
