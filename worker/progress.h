// Progress: rank 0's view of how far the job is. On a terminal, one line rewritten in place
// (cases done, cases/s, ETA); otherwise a log line every `intervalSeconds`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace eleanor {

class Progress {
 public:
  // `alreadyDone`: lines a resumed run found done; the rate counts only this run's, in `unit`/s.
  Progress(int64_t totalLines, double intervalSeconds, int64_t alreadyDone = 0,
           std::string unit = "cases");
  void update(int64_t linesDone);
  void finish(int64_t linesDone);

 private:
  using Clock = std::chrono::steady_clock;
  void print(int64_t linesDone, bool final);
  int64_t totalLines_;
  std::string unit_;
  int64_t alreadyDone_;
  double intervalSeconds_;
  bool terminal_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point lastPrint_ = Clock::now();
};

}  // namespace eleanor
