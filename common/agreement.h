// Agreeing on failure: a stage runs on every rank, and either every rank goes on or every rank
// stops with the same message and exit code, so rank 0 can say which rank failed and why.
#pragma once

#include <exception>
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

// Thrown on every rank when the ranks agreed to stop early on a signal (stop_request.h), after
// rank 0 committed the finished rounds; the message (rank 0's) says how to resume.
class JobStopped : public JobFailure {
 public:
  using JobFailure::JobFailure;
};

// Thrown by a rank that cannot go on only because a peer failed before it (the peer sent
// nothing): runAgreed names the peer's own failure first, not this consequence.
class PeerFailure : public InternalError {
 public:
  using InternalError::InternalError;
};

// Collective: every rank must call with the same `stage`. Runs `work`; if it throws on any
// rank, throws JobFailure on every rank ("rank 3/4 (host) failed in stage 'load': <what>"),
// naming the first rank whose failure is not a PeerFailure (the first failing rank if all are).
void runAgreed(Communicator& comm, const std::string& stage, const std::function<void()>& work);

// For the steps between two collectives: the first step that throws is kept (later ones are
// skipped) and rethrown inside a runAgreed, so a failing rank still takes part in the
// collectives in between instead of leaving its peers waiting in them until the timeout.
class DeferredFailure {
 public:
  template <class Step>
  void attempt(Step&& step) {
    if (failure_) return;
    try {
      step();
    } catch (...) {
      failure_ = std::current_exception();
    }
  }
  bool failed() const { return failure_ != nullptr; }
  void rethrow() const {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  std::exception_ptr failure_;
};

}  // namespace eleanor
