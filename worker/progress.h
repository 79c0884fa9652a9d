// Progress: rank 0's view of how far the job is. On a terminal, one line rewritten in place
// (cases done, cases/s, ETA); otherwise a log line every `intervalSeconds`.
#pragma once

#include <chrono>
#include <cstdint>

namespace eleanor {

class Progress {
 public:
  Progress(int64_t totalLines, double intervalSeconds);
  void update(int64_t linesDone);
  void finish(int64_t linesDone);

 private:
  using Clock = std::chrono::steady_clock;
  void print(int64_t linesDone, bool final);
  int64_t totalLines_;
  double intervalSeconds_;
  bool terminal_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point lastPrint_ = Clock::now();
};

}  // namespace eleanor
