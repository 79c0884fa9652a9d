// On a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), print which rank died, in
// which stage, and a backtrace to stderr, then die with the same signal. A crashed rank
// says where it was instead of leaving a bare "exited on signal 11".
#pragma once

namespace eleanor {

// Installs the handlers (once per process). Uses only async-signal-safe calls when it fires.
void installCrashReport();

// The stage named in a crash report; set at stage boundaries. `stage` must outlive the stage
// (string literals, or strings owned by long-lived objects).
void setCrashStage(const char* stage);

}  // namespace eleanor
