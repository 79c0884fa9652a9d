#include "worker/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

namespace eleanor {

Progress::Progress(int64_t totalLines, double intervalSeconds, int64_t alreadyDone,
                   std::string unit)
    : totalLines_(totalLines),
      unit_(std::move(unit)),
      alreadyDone_(alreadyDone),
      intervalSeconds_(intervalSeconds),
      terminal_(::isatty(2) != 0) {}

void Progress::update(int64_t linesDone) {
  const double sinceLast = std::chrono::duration<double>(Clock::now() - lastPrint_).count();
  if (sinceLast < (terminal_ ? 0.2 : intervalSeconds_)) return;
  print(linesDone, false);
}

void Progress::finish(int64_t linesDone) {
  print(linesDone, true);
}

void Progress::print(int64_t linesDone, bool final) {
  lastPrint_ = Clock::now();
  const double elapsed = std::chrono::duration<double>(lastPrint_ - start_).count();
  const double rate = elapsed > 0 ? (linesDone - alreadyDone_) / elapsed : 0.0;
  const double eta = rate > 0 ? (totalLines_ - linesDone) / rate : 0.0;
  const double percent = totalLines_ ? 100.0 * linesDone / totalLines_ : 100.0;
  const std::string text = fmt::format("{}/{} lines ({:.1f}%)  {:.0f} {}/s  ETA {:.0f} s",
                                       linesDone, totalLines_, percent, rate, unit_, eta);
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K[progress] %s%s", text.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  } else if (!final || elapsed >= intervalSeconds_) {
    spdlog::info("progress: {}", text);
  }
}

}  // namespace eleanor
