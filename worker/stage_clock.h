// StageClock: wall seconds spent per pipeline stage on this rank, for report.json.
#pragma once

#include <array>
#include <chrono>
#include <string_view>

namespace eleanor {

enum class Stage {
  kRead,
  kEmbed,
  kCritics,
  kGatherQueries,
  kSearch,
  kGatherResults,
  kAggregate,
  kWrite,
  kCount
};

constexpr std::array<std::string_view, static_cast<size_t>(Stage::kCount)> kStageNames{
    "read", "embed", "critics", "gather_queries", "search", "gather_results", "aggregate", "write"};

class StageClock {
 public:
  using Clock = std::chrono::steady_clock;

  // Adds the time since the previous mark (or construction) to `stage`.
  void mark(Stage stage) {
    const auto now = Clock::now();
    seconds_[static_cast<size_t>(stage)] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }
  void restart() { last_ = Clock::now(); }
  const std::array<double, static_cast<size_t>(Stage::kCount)>& seconds() const { return seconds_; }

 private:
  Clock::time_point last_ = Clock::now();
  std::array<double, static_cast<size_t>(Stage::kCount)> seconds_{};
};

}  // namespace eleanor
