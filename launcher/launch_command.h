// The launch command: turns what the user asked for (LaunchRequest) and what this machine looks
// like (Environment) into the program and arguments to exec (LaunchPlan). Pure: everything it
// reads from the machine comes in through Environment, so tests build one by hand and a new
// launcher (srun inside a Slurm allocation) is one more plan builder next to the mpirun one.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace eleanor {

// What the user asked for on the command line.
struct LaunchRequest {
  int ranks = 0;                        // --np; at least 1
  std::string hostfile;                 // --hostfile; empty: none
  std::string hosts;                    // -H "host[:slots],..."; empty: none
  std::string mpirun = "mpirun";        // --mpirun; looked up in PATH when it has no '/'
  std::string worker;                   // --worker; empty: Environment::defaultWorker
  std::vector<std::string> exports;     // -x NAME or NAME=value, in the order given
  std::vector<std::string> workerArgs;  // everything after --, passed verbatim
};

// What the builder reads from the machine the launcher runs on.
struct Environment {
  std::map<std::string, std::string> vars;  // the launcher's environment
  int cores = 1;        // physical cores this process may use: what Open MPI counts as local slots
  bool isRoot = false;  // effective uid 0
  std::string defaultWorker;  // eleanor-worker next to the launcher's own executable
  // True when path names an executable regular file.
  std::function<bool(const std::string& path)> isExecutable;
  // The file's contents, or nullopt when it is missing or unreadable.
  std::function<std::optional<std::string>(const std::string& path)> readFile;
};

// What to exec. argv[0] is the program (execvp looks it up in PATH).
struct LaunchPlan {
  std::vector<std::string> argv;
  // Variables to set in the launcher's own environment before the exec. The mpirun plan leaves
  // this empty and passes everything with -x, so the printed command is the whole story; srun
  // forwards the caller's environment, so the Slurm plan will set its variables here.
  std::map<std::string, std::string> setEnv;
  // Things the user should know about the choices made (oversubscription...), one line each.
  std::vector<std::string> notes;
};

// The mpirun (Open MPI 4) command for the request. Throws UserError with a one-line message
// that names the bad option and the fix: --np < 1, bad -H syntax, unreadable or malformed
// hostfile, more ranks than the given slots, missing worker, nothing after --, bad -x name.
LaunchPlan buildLaunchPlan(const LaunchRequest& request, const Environment& environment);

// The arguments as one line a POSIX shell reads back as the same argv: arguments made only of
// safe characters stay bare, the others are single-quoted. For display only; never exec'd.
std::string shellQuote(const std::vector<std::string>& args);

// The plan as one copy-pasteable line: "NAME=value ... argv..." (assignments only when setEnv
// has any).
std::string commandLine(const LaunchPlan& plan);

}  // namespace eleanor
