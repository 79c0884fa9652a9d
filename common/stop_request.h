// A request to stop the job early with its finished work committed: SIGTERM (Slurm's time
// limit, scancel, mpirun passing on a Ctrl-C), SIGINT (Ctrl-C on a worker started by hand) or
// SIGUSR1 (`kill -USR1` to eleanor-launch, which mpirun forwards to every rank; Slurm's
// `--signal=USR1@SECONDS` warning before the time limit). The handler only records the
// signal; the job looks at it between rounds, where the ranks agree to stop. A second SIGINT
// (Ctrl-C twice) ends the process at once, as if no handler were installed.
#pragma once

#include <string>

namespace eleanor {

// Exit code of a job stopped on request, after committing its finished rounds: run the same
// command with --resume to finish it (75 is sysexits.h's EX_TEMPFAIL, "try again later").
inline constexpr int kStoppedExitCode = 75;

// Installs the handlers (SIGTERM, SIGINT, SIGUSR1); `run` and `index` do, since both can
// resume.
void installStopRequest();

// The signal that asked to stop (0 when none has).
int stopRequestSignal();

// "SIGTERM", "SIGUSR1", ... ("signal N" for others).
std::string signalName(int signal);

// For tests: forget a request.
void clearStopRequest();

}  // namespace eleanor
