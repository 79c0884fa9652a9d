// Compressed input files (gzip, zstd): what a data pipeline's part files often are
// (`part-00000.jsonl.gz`). Ranks split a compressed file by its compressed bytes, as a plain
// one: a part's lines are those that start in what its bytes decode to (CompressedLineReader).
// A decoder can start only where the file was written in independent pieces that it says where
// to find: the blocks of a file bgzip wrote, the frames of one pzstd wrote (entryPointBefore).
// A rank starts at the last such point before its part, and decodes from there, passing over
// what comes before the part; in a file gzip or zstd wrote (one stream) that is the file's
// start. Which files are compressed is decided by their names, from rank 0's listing, before
// any rank opens a file; a name and bytes that disagree are refused (jsonLinesFileProblem).
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

// Decompresses a compressed file held in memory (mapped), front to back from byte `from`, where
// a member or frame starts (0, or an entry point). Members or frames one after another (pigz,
// bgzip, `cat a.gz b.gz`) are one stream, as for zcat; zero bytes after the last gzip member
// are ignored, as gzip does. Throws UserError naming `path` and the compressed offset when the
// data is damaged, cut short or followed by other bytes.
class Decompressor {
 public:
  Decompressor(std::string_view data, Compression kind, std::string path, int64_t from = 0);
  ~Decompressor();
  Decompressor(Decompressor&&) noexcept;
  Decompressor& operator=(Decompressor&&) noexcept;

  // Feeds the decoder only the compressed bytes before `limit` (at most the data's end, at
  // least what it has read): read() gives 0 there, until the limit is raised, once it has given
  // out all those bytes decode to: every symbol (gzip) or block (zstd) that lies whole before
  // the limit. So where a decoder stands at a limit does not depend on where it was paused
  // before, or on where it started: ranks that pause at the same byte agree on what lies before.
  void limitInput(int64_t limit);
  int64_t inputLimit() const;

  // Up to `capacity` decompressed bytes into `out`; 0 only at the end of the data, or at the
  // input limit.
  size_t read(char* out, size_t capacity);

  // A decoder that goes on from where this one stands, as it would: for gzip (zlib's state and
  // window, about 40 KiB); nothing for zstd, whose streaming decoder cannot be copied.
  std::optional<Decompressor> copy() const;

 private:
  struct State;
  explicit Decompressor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The last byte at or before `from` where a decoder can start in the compressed file `data`: a
// block of a file bgzip wrote (BGZF: each gzip member's extra field holds its size; blocks hold
// at most 64 KiB, so one starts that close before `from`), or a frame of one pzstd wrote (a
// skippable frame before each frame holds its size; walked by the sizes from the start), or
// where such pieces end; 0 in a file gzip or zstd wrote, which is one stream. Found without
// decompressing.
int64_t entryPointBefore(std::string_view data, Compression kind, int64_t from);

// Whether a decoder can start well inside the file (bgzip's blocks, pzstd's frames): whether a
// rank reading its second half starts near its part or at the file's start.
bool hasEntryPoints(std::string_view data, Compression kind);

// The lines of a part of a compressed file (any range of its compressed bytes), as LineReader
// gives a plain file's: numbered from `firstLine`, a trailing '\r' dropped, a last line without
// '\n' included. A part's decompressed bytes are what the decoder gives out between pauses at
// its two ends (Decompressor::limitInput); its lines are those that start in them, or right at
// their end, except the first where the part does not start the file (it belongs to the part
// before, which reads its line on past its own end to the '\n'); so parts that tile a file give
// each of its lines once. The decoder starts at the entry point before the part
// (entryPointBefore) and passes over what lies between. A line's text is valid until the next
// call. A line longer than `maxLineBytes` is not kept: its text is empty and `skippedBytes`
// holds its length (without the '\r'), so that memory stays bounded by the limit (and the
// 256 KiB buffer).
class CompressedLineReader {
 public:
  // `atPart`, where given: a decoder standing at the part's start (countCompressedLines'), which
  // the reader copies instead of decoding its way in again.
  CompressedLineReader(std::string_view data, Compression kind, std::string path, Range part,
                       int64_t firstLine, int64_t maxLineBytes,
                       const Decompressor* atPart = nullptr);

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

  std::string path_;
  std::vector<char> buffer_;
  Decompressor decoder_;    // the part's bytes, then the rest of the file's
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
// any of its lines is used. Where `atPart` is given and the part starts past the entry point
// before it (a one-stream file read from its start, or a block or frame entered part-way), it
// receives a copy of the decoder standing at the part's start, where one can be made (gzip):
// readers of the part then start there (CompressedLineReader's `atPart`).
int64_t countCompressedLines(std::string_view data, Compression kind, const std::string& path,
                             Range part, std::optional<Decompressor>* atPart = nullptr);

// Why the file at `path` with bytes `data` cannot be read as JSON lines, or nothing:
// notJsonLinesReason on its first bytes, decompressed first where its name says it is
// compressed (only its first 64 KiB: the rest is checked as it is read); a compressed name on
// a file that does not start as such a stream is refused.
std::optional<std::string> jsonLinesFileProblem(const std::string& path, std::string_view data);

}  // namespace eleanor
