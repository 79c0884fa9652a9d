// How work is split across W ranks. Pure functions, the same on every rank and every machine.
#pragma once

#include <cstdint>
#include <string_view>

namespace eleanor {

// Half-open range [begin, end).
struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// Part `index` of `parts` contiguous parts of [0, n): [index*n/parts, (index+1)*n/parts).
// Sizes differ by at most one; the parts cover [0, n) exactly once. Requires parts >= 1.
Range evenSplit(int64_t n, int parts, int index);

// The lines that rank `index` of `parts` owns in `data`: a line belongs to the part whose byte
// range holds the line's first byte. The result starts at a line start (or data.size()) and
// ends at a line start or data.size(), so concatenating every part's range gives `data`.
Range lineAlignedSplit(std::string_view data, int parts, int index);

// The lines of `data` whose first byte lies in `bytes`: both ends moved forward to the next line
// start (or data.size()). Ranges that tile [0, data.size()) give line ranges that tile it too.
Range lineAlignedRange(std::string_view data, Range bytes);

// Number of '\n' in data (the count of complete lines before any trailing partial line).
int64_t countNewlines(std::string_view data);

}  // namespace eleanor
