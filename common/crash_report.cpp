#include "common/crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "common/process_identity.h"

namespace eleanor {
namespace {

std::atomic<const char*> gStage{"start"};
char gWho[256] = "eleanor";  // "rank r/W host", filled when the handlers are installed

void writeText(const char* text) {
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void onFatalSignal(int signal) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "\n*** eleanor: %s died of signal %d (%s) in stage '%s'; "
                "backtrace:\n",
                gWho, signal, strsignal(signal), gStage.load());
  writeText(line);
  void* frames[64];
  const int count = backtrace(frames, 64);
  backtrace_symbols_fd(frames, count, STDERR_FILENO);
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

void installCrashReport() {
  const auto& id = processIdentity();
  std::snprintf(gWho, sizeof(gWho), "rank %d/%d %s", id.rank, id.size, id.host.c_str());
  void* warmUp[1];
  backtrace(warmUp, 1);  // loads libgcc's unwinder now, not inside the handler
  for (const int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction action {};
    action.sa_handler = &onFatalSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(signal, &action, nullptr);
  }
}

void setCrashStage(const char* stage) {
  gStage.store(stage);
}

}  // namespace eleanor
