// `eleanor-worker index`: builds a precedent corpus folder from a precedents JSONL, embedded
// with the job's embedder, distributed like a job: each rank reads its byte range in rounds,
// embeds its rows and stages them (index_staging.h: committed every job.checkpoint_interval_s,
// so a stopped or killed build resumes), then writes them at their offset in the shared output
// files; rank 0 renames the finished files into place. The folder must be on a file system
// every rank sees.
//
// Input lines: {"id": "p1", "text": "...", "decision": "deny", "severity": {"rights": 3}}
// (id, text, decision required). Output: embeddings.npy (N × D float32), meta.jsonl (row i =
// {"id", "decision", "severity", "text"}), index.json (what built it), errors.jsonl.
#pragma once

#include <cstdint>
#include <string>

#include "common/communicator.h"
#include "worker/device_plan.h"
#include "worker/job_config.h"
#include "worker/output/checkpoint.h"

namespace eleanor {

struct IndexSummary {
  int64_t rows = 0;
  int64_t errors = 0;
  int64_t dim = 0;
  double seconds = 0;
  int64_t resumedLines = 0;  // lines a resumed build found done
};

// Collective: every rank must call. Throws JobFailure (agreed) on errors, JobStopped when asked
// to stop (stop_request.h) with every rank's finished rounds committed. A model embedder runs
// where `device` places it.
// `inputs`: the precedents' files, folders or patterns (input_files.h), read as one.
IndexSummary buildIndex(const JobConfig& config, const std::vector<std::string>& inputs,
                        const std::string& outputDir, Communicator& comm, const DevicePlan& device,
                        const ResumeOptions& options = {});

}  // namespace eleanor
