// StageClock: wall seconds spent per pipeline stage on this rank, for report.json, and, when
// tracing, every stage span with its start time (a Chrome trace, gpu.monitoring.enable_profiling).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

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

  struct Span {
    Stage stage;
    int64_t startMicros;  // since the Unix epoch, so ranks on synchronised hosts line up
    int64_t micros;
  };

  // Adds the time since the previous mark (or construction) to `stage`.
  void mark(Stage stage) {
    const auto now = Clock::now();
    const auto elapsed = now - last_;
    seconds_[static_cast<size_t>(stage)] += std::chrono::duration<double>(elapsed).count();
    if (tracing_) {
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
      const auto end = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      spans_.push_back({stage, end - micros, micros});
    }
    last_ = now;
  }
  void restart() { last_ = Clock::now(); }
  void trace(bool on) { tracing_ = on; }
  const std::vector<Span>& spans() const { return spans_; }
  const std::array<double, static_cast<size_t>(Stage::kCount)>& seconds() const { return seconds_; }

 private:
  Clock::time_point last_ = Clock::now();
  std::array<double, static_cast<size_t>(Stage::kCount)> seconds_{};
  bool tracing_ = false;
  std::vector<Span> spans_;
};

}  // namespace eleanor
