// The job: every rank reads its slice of the cases, embeds them, runs the critics, searches
// its precedent shard for every rank's cases, then merges every shard's lists of its own cases
// (worker/retrieval/list_exchange.h) and decides them; rank 0 writes results.jsonl,
// errors.jsonl and report.json into job.output.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/communicator.h"
#include "worker/device_plan.h"
#include "worker/job_config.h"
#include "worker/output/checkpoint.h"

namespace eleanor {

struct JobSummary {
  int64_t lines = 0;
  int64_t results = 0;
  int64_t errors = 0;
  int64_t blankLines = 0;
  std::map<std::string, int64_t> decisions;  // every decision name, zero included
  double seconds = 0.0;                      // whole job, wall
  double setupSeconds = 0.0;                 // config to first round: rules compile, corpus load
  // Results of this run (not those a resume found done) / (seconds - setupSeconds): the rate
  // at scale.
  double casesPerSecond = 0.0;
  std::string outputDir;
  int64_t resumedLines = 0;    // lines a resumed run found done
  int64_t resumedResults = 0;  // of which results
};

// Collective: every rank must call. Returns the summary on rank 0 (counts are zero elsewhere).
// Throws JobFailure (agreed on every rank) for setup and stage errors, JobStopped when asked to
// stop (stop_request.h) with the finished rounds committed.
// `device` is where this rank searches (planDevice).
JobSummary runJob(const JobConfig& config, Communicator& comm, const DevicePlan& device,
                  const ResumeOptions& options = {});

}  // namespace eleanor
