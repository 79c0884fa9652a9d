// CaseReader: this rank's cases, read in batches from its byte range of the input JSONL. The
// input may be several files (input_files.h), read as one: the ranks split their bytes together,
// so a rank's range may span files, and the rank never reads the rest. A compressed file
// (compressed_input.h: *.gz, *.zst) is split by its compressed bytes too; a rank decodes it from
// the entry point before its part (bgzip's blocks, pzstd's frames; the file's start where it has
// none) and passes over what lies before. Line numbers are global across the files (an exclusive
// scan of the ranks' line counts); lineNames() says which file and line of it a number is.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/communicator.h"
#include "common/file_versions.h"
#include "common/line_reader.h"
#include "common/mapped_file.h"
#include "worker/cases/case.h"
#include "worker/cases/compressed_input.h"
#include "worker/cases/input_files.h"
#include "worker/cases/input_lines.h"

namespace eleanor {

struct CaseBatch {
  std::vector<Case> cases;
  std::vector<LineError> errors;
  int64_t blankLines = 0;
  int64_t linesRead() const {
    return static_cast<int64_t>(cases.size() + errors.size()) + blankLines;
  }
};

class CaseReader {
 public:
  // Finds rank `rank` of `size`'s lines in the listed files (shareInputListing: every rank
  // gets rank 0's listing) and maps the files that hold them. Local: throws UserError naming
  // the file and `setting` (where the files came from: "job.input", "--input") if one cannot
  // be read, is not JSON lines (binary, UTF-16, one JSON array, compressed other than a gzip or
  // zstd file named so: jsonLinesFileProblem) or has another size than the listing's (still being
  // written; another copy on this rank's node). Each non-empty file is opened, and so checked, by
  // some rank; a compressed one's part is decompressed once here to count its lines, so a
  // damaged or truncated file stops the job before any work.
  CaseReader(const InputListing& listing, std::string_view setting, int rank, int size,
             int64_t maxLineBytes);

  // Collective: every rank must call before next(), with the same listing. Agrees on global line
  // numbers (an exclusive scan of the ranks' line counts) and where each file's lines begin.
  void numberLines(Communicator& comm);

  // The next up to `maxLines` lines of this rank's range (blank lines included in the count).
  // A case whose line is in the duplicate table becomes a LineError naming the first line.
  CaseBatch next(int64_t maxLines);

  // Passes over the next `lines` lines without parsing them (resuming a job).
  void skip(int64_t lines);

  // Every valid case line of this rank's range as (128-bit hash of its id, line), read in a
  // separate pass that leaves next()'s position alone.
  struct IdAtLine {
    uint64_t low;
    uint64_t high;
    int64_t line;
  };
  std::vector<IdAtLine> idsInRange() const;

  // Lines of this rank that repeat an earlier id -> the line of that id's first use.
  void setDuplicates(std::unordered_map<int64_t, int64_t> duplicates) {
    duplicates_ = std::move(duplicates);
  }
  // The next raw line of this rank's range (for readers of other JSONL schemas).
  std::optional<Line> nextLine() { return cursor_.next(*this); }
  // The errors.jsonl entry for `line` when it is over job.max_line_bytes (`what` names the
  // records in the advice: "cases", "precedents"); nothing for a line within it.
  std::optional<LineError> overLong(const Line& line, std::string_view what) const;
  bool done() const { return cursor_.done(*this); }

  int64_t firstLine() const { return firstLine_; }
  int64_t rankLines() const { return rankLines_; }         // lines in this rank's range
  int64_t totalLines() const { return totalLines_; }       // lines in the whole input
  int64_t inputBytes() const { return listing_.bytes(); }  // bytes of all its files
  const std::vector<std::string>& paths() const { return listing_.paths; }
  const InputListing& listing() const { return listing_; }
  // Which file and line of it an input line number is (after numberLines).
  const InputLines& lineNames() const { return lineNames_; }

 private:
  // A run of this rank's lines in one file (of a compressed one, the part of its compressed
  // bytes whose lines it reads: CompressedLineReader).
  struct Segment {
    size_t file;
    Range range;
    int64_t lines;
    Compression compression = Compression::none;
    int64_t firstLine = 1;  // global, set by numberLines
    // A gzip decoder standing at a compressed part's start, where reaching it meant decoding
    // from the file's start or a block before: kept from the count, so that reading the part
    // (again for the duplicate-id pass, or on resume) does not decode the way in each time.
    // Only a rank's first segment can start inside a file: one such copy (40 KiB) a rank.
    std::shared_ptr<const Decompressor> atPart{};
  };
  // Reads the segments' lines front to back.
  class Cursor {
   public:
    std::optional<Line> next(const CaseReader& reader);
    bool done(const CaseReader& reader) const;

   private:
    size_t segment_ = 0;
    int64_t taken_ = 0;  // lines of this segment returned
    std::optional<LineReader> plain_;
    std::optional<CompressedLineReader> compressed_;
  };

  InputListing listing_;  // rank 0's
  // Only the files this rank reads a line of are opened: an input of 100,000 part files on
  // hundreds of ranks would otherwise open every file on every rank (a parallel file system's
  // metadata server pays for each) and could pass the kernel's limit of memory maps.
  std::vector<std::optional<MappedFile>> files_;
  std::vector<Segment> segments_;
  int64_t firstLine_ = 1;
  int64_t rankLines_ = 0;
  int64_t totalLines_ = 0;
  int64_t maxLineBytes_;
  Cursor cursor_;
  InputLines lineNames_;
  std::unordered_map<int64_t, int64_t> duplicates_;
};

}  // namespace eleanor
