#include "common/crash_report.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <ucontext.h>
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

// "  what 0x...: binary(symbol+0x12)", as far as the dynamic symbol table knows.
void describe(const char* what, void* address) {
  char line[768];
  Dl_info info{};
  if (address && dladdr(address, &info) && info.dli_fname) {
    const char* base = static_cast<const char*>(info.dli_sname ? info.dli_saddr : info.dli_fbase);
    std::snprintf(line, sizeof(line), "  %s %p: %s(%s+0x%lx)\n", what, address, info.dli_fname,
                  info.dli_sname ? info.dli_sname : "",
                  static_cast<unsigned long>(static_cast<const char*>(address) - base));
  } else {
    std::snprintf(line, sizeof(line), "  %s %p\n", what, address);
  }
  writeText(line);
}

void onFatalSignal(int signal, siginfo_t* signalInfo, void* context) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "\n*** eleanor: %s died of signal %d (%s) in stage '%s'; backtrace:\n", gWho,
                signal, strsignal(signal), gStage.load());
  writeText(line);
#if defined(__x86_64__)
  // A jump to a bad address (a null function pointer) leaves nothing to unwind from; the
  // caller's return address is still on top of the stack.
  const auto& machine = static_cast<ucontext_t*>(context)->uc_mcontext;
  void* pc = reinterpret_cast<void*>(machine.gregs[REG_RIP]);
  describe("instruction", pc);
  describe("address", signalInfo ? signalInfo->si_addr : nullptr);
  Dl_info info{};
  if (!dladdr(pc, &info)) {
    void* const* stack = reinterpret_cast<void* const*>(machine.gregs[REG_RSP]);
    describe("called from", stack ? stack[0] : nullptr);
  }
#else
  (void)signalInfo;
  (void)context;
#endif
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
    action.sa_sigaction = &onFatalSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_SIGINFO;
    sigaction(signal, &action, nullptr);
  }
}

void setCrashStage(const char* stage) {
  gStage.store(stage);
}

}  // namespace eleanor
