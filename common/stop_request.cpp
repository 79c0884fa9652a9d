#include "common/stop_request.h"

#include <signal.h>
#include <string.h>

#include <atomic>
#include <string>

namespace eleanor {
namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGUSR1};

std::atomic<int> gRequest{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free flag");

void onStopSignal(int signal) {
  int none = 0;
  if (gRequest.compare_exchange_strong(none, signal) || signal != SIGINT) return;
  // Ctrl-C twice: stop now, the way SIGINT would have without a handler. A repeated SIGTERM or
  // SIGUSR1 is kept as the one request: Slurm may deliver scancel's SIGTERM to a task both
  // directly and through srun.
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void installStopRequest() {
  for (const int signal : kStopSignals) {
    struct sigaction action {};
    action.sa_handler = &onStopSignal;
    sigemptyset(&action.sa_mask);
    for (const int other : kStopSignals) sigaddset(&action.sa_mask, other);
    action.sa_flags = SA_RESTART;  // reads and writes in progress carry on
    sigaction(signal, &action, nullptr);
  }
}

int stopRequestSignal() {
  return gRequest.load();
}

std::string signalName(int signal) {
  const char* abbreviation = sigabbrev_np(signal);
  return abbreviation ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

void clearStopRequest() {
  gRequest.store(0);
}

}  // namespace eleanor
