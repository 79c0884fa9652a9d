// CaseReader: this rank's cases, read in batches from its byte range of the input JSONL. The
// rank never reads the rest of the file; line numbers are global (an exclusive scan of the
// ranks' newline counts).
#pragma once

#include <cstdint>
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
  // Maps `path` and finds rank `rank` of `size`'s lines. Local: throws UserError naming
  // `path` and `setting` (where the path came from: "job.input", "--input") if it cannot be
  // read or is not JSON lines (compressed, binary, UTF-16, one JSON array: notJsonLinesReason).
  CaseReader(const std::string& path, std::string_view setting, int rank, int size,
             int64_t maxLineBytes);

  // Collective: every rank must call before next(). Agrees on global line numbers (an
  // exclusive scan of the ranks' line counts).
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
  std::optional<Line> nextLine() { return lines_.next(); }
  // The errors.jsonl entry for `line` when it is over job.max_line_bytes (`what` names the
  // records in the advice: "cases", "precedents"); nothing for a line within it.
  std::optional<LineError> overLong(const Line& line, std::string_view what) const;
  bool done() const { return lines_.done(); }

  int64_t firstLine() const { return firstLine_; }
  int64_t rankLines() const { return rankLines_; }    // lines in this rank's range
  int64_t totalLines() const { return totalLines_; }  // lines in the whole file
  int64_t fileBytes() const { return static_cast<int64_t>(file_.size()); }
  // The file as this rank opened it, for differingFileVersions.
  StampedFile stampedFile() const { return {file_.path(), setting_, file_.stamp()}; }

 private:
  MappedFile file_;
  std::string setting_;
  Range range_;
  int64_t firstLine_ = 1;
  int64_t rankLines_ = 0;
  int64_t totalLines_ = 0;
  int64_t maxLineBytes_;
  LineReader lines_;
  std::unordered_map<int64_t, int64_t> duplicates_;
};

}  // namespace eleanor
