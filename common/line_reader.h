// LineReader: the lines of one byte range of a mapped text file, front to back, with their
// 1-based line numbers in the whole file. A trailing '\r' (CRLF files) is stripped.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/partition.h"

namespace eleanor {

struct Line {
  int64_t number = 0;     // 1-based, as editors count
  std::string_view text;  // without the line end
  // Bytes of the line not in `text`: a compressed file's line over job.max_line_bytes is not
  // kept (CompressedLineReader), only its length.
  int64_t skippedBytes = 0;
  int64_t bytes() const { return static_cast<int64_t>(text.size()) + skippedBytes; }
};

class LineReader {
 public:
  // `data` is the whole file; `range` is line-aligned (see lineAlignedSplit); `firstLine` is
  // the 1-based number of the line starting at range.begin.
  LineReader(std::string_view data, Range range, int64_t firstLine);

  std::optional<Line> next();
  bool done() const { return pos_ >= range_.end; }
  int64_t position() const { return pos_; }

 private:
  std::string_view data_;
  Range range_;
  int64_t pos_;
  int64_t lineNumber_;
};

}  // namespace eleanor
