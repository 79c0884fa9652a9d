#include "common/line_reader.h"

#include <cstring>

namespace eleanor {

LineReader::LineReader(std::string_view data, Range range, int64_t firstLine)
    : data_(data), range_(range), pos_(range.begin), lineNumber_(firstLine) {}

std::optional<Line> LineReader::next() {
  if (done()) return std::nullopt;
  const char* start = data_.data() + pos_;
  const size_t remaining = static_cast<size_t>(range_.end - pos_);
  const void* newline = std::memchr(start, '\n', remaining);
  size_t length = newline ? static_cast<const char*>(newline) - start : remaining;
  pos_ += static_cast<int64_t>(length) + (newline ? 1 : 0);
  if (length > 0 && start[length - 1] == '\r') --length;
  return Line{lineNumber_++, std::string_view(start, length)};
}

}  // namespace eleanor
