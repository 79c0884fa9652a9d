#include "worker/cases/input_lines.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "common/error.h"

namespace eleanor {

InputLines::InputLines(std::vector<std::string> paths, std::vector<int64_t> firstLines)
    : paths_(std::move(paths)), firstLines_(std::move(firstLines)) {
  ELEANOR_ASSERT(paths_.size() == firstLines_.size(), "one first line per input file");
}

InputLines::Place InputLines::locate(int64_t line) const {
  if (paths_.empty()) return {nullptr, line};
  // The last file starting at or before `line` (an empty file starts where the next does).
  const auto after = std::upper_bound(firstLines_.begin(), firstLines_.end(), line);
  const size_t file = after == firstLines_.begin() ? 0 : (after - firstLines_.begin()) - 1;
  return {&paths_[file], line - firstLines_[file] + 1};
}

std::string InputLines::describe(int64_t line) const {
  if (!severalFiles()) return fmt::format("line {}", line);
  const Place place = locate(line);
  return fmt::format("line {} of '{}'", place.line, *place.path);
}

}  // namespace eleanor
