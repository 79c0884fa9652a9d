#include "common/partition.h"

#include <cstring>

#include "common/error.h"

namespace eleanor {

Range evenSplit(int64_t n, int parts, int index) {
  ELEANOR_ASSERT(parts >= 1 && index >= 0 && index < parts && n >= 0, "bad split arguments");
  // 128-bit products keep this exact for any n the files we map can have.
  const auto at = [&](int64_t i) {
    return static_cast<int64_t>(static_cast<__int128>(n) * i / parts);
  };
  return {at(index), at(index + 1)};
}

namespace {
// First line start at or after byte `pos`: pos itself when it is 0 or follows a '\n'.
int64_t lineStartAtOrAfter(std::string_view data, int64_t pos) {
  const auto size = static_cast<int64_t>(data.size());
  if (pos <= 0) return 0;
  if (pos >= size) return size;
  const void* newline = std::memchr(data.data() + pos - 1, '\n', size - (pos - 1));
  if (!newline) return size;
  return static_cast<const char*>(newline) - data.data() + 1;
}
}  // namespace

Range lineAlignedRange(std::string_view data, Range bytes) {
  return {lineStartAtOrAfter(data, bytes.begin), lineStartAtOrAfter(data, bytes.end)};
}

Range lineAlignedSplit(std::string_view data, int parts, int index) {
  return lineAlignedRange(data, evenSplit(static_cast<int64_t>(data.size()), parts, index));
}

int64_t countNewlines(std::string_view data) {
  int64_t count = 0;
  const char* p = data.data();
  const char* end = p + data.size();
  while (p < end) {
    const void* hit = std::memchr(p, '\n', end - p);
    if (!hit) break;
    ++count;
    p = static_cast<const char*>(hit) + 1;
  }
  return count;
}

}  // namespace eleanor
