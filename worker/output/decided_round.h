// What a rank sends rank 0 for one round once it has decided its cases: its counts, then its
// result lines and its error lines as text (each line ending in '\n'), ready to append to the
// spools. A fixed header and raw text: rank 0 copies the lines to disk without parsing them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "worker/aggregate/aggregator.h"

namespace eleanor {

constexpr size_t kDecisionCount = static_cast<size_t>(Decision::kDeny) + 1;

// A round's counts (trivially copyable: they travel as they are).
struct DecidedCounts {
  int64_t lines = 0;          // input lines the round read, blank and bad ones included
  int64_t blank = 0;          // of which blank
  int64_t results = 0;        // lines in the result text
  int64_t errors = 0;         // lines in the error text
  int64_t lastErrorLine = 0;  // input line of the last error (0: none)
  std::array<int64_t, kDecisionCount> decisions{};  // indexed by Decision
};

struct DecidedRound {
  DecidedCounts counts;
  std::string_view resultText;  // views into the packed block when unpacked
  std::string_view errorText;
};

std::vector<std::byte> packDecidedRound(const DecidedRound& round);

// The round in `block` (its text views point into it). Throws InternalError when the block is
// not one packDecidedRound made (short, or sizes that do not add up).
DecidedRound unpackDecidedRound(std::span<const std::byte> block);

}  // namespace eleanor
