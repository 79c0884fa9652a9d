// Agreeing on failure: a stage runs on every rank, and either every rank goes on or every rank
// stops with the same message and exit code, so rank 0 can say which rank failed and why.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

#include "common/communicator.h"

namespace eleanor {

// Thrown on every rank when some rank failed a stage. The message names the failing rank, its
// host and the stage; exitCode is 2 for a user error (bad config or file), 1 otherwise.
class JobFailure : public std::runtime_error {
 public:
  JobFailure(const std::string& message, int exitCode)
      : std::runtime_error(message), exitCode_(exitCode) {}
  int exitCode() const { return exitCode_; }

 private:
  int exitCode_;
};

// Collective: every rank must call with the same `stage`. Runs `work`; if it throws on any
// rank, throws JobFailure on every rank ("rank 3/4 (host) failed in stage 'load': <what>").
void runAgreed(Communicator& comm, const std::string& stage, const std::function<void()>& work);

}  // namespace eleanor
