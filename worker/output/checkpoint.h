// Checkpoint: what rank 0 has committed of a running job, so `run --resume` can continue a
// killed job and finish with the results an uninterrupted run writes. Stored as
// <output>/.eleanor-partial/checkpoint.json beside the spools, written atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/communicator.h"
#include "worker/cases/input_files.h"
#include "worker/job_config.h"

namespace eleanor {

struct Checkpoint {
  std::string input;     // identity of the cases files (inputIdentity)
  std::string settings;  // hash of what decides the results (resultSettingsHash)
  int worldSize = 0;
  int64_t rounds = 0;
  std::vector<int64_t> linesPerRank;  // lines of each rank's range already accounted for
  std::vector<int64_t> resultBytes;   // spool sizes at the commit
  std::vector<int64_t> errorBytes;
  int64_t lines = 0, results = 0, errors = 0, blankLines = 0;
  std::map<std::string, int64_t> decisions;
};

// "size 163370, modified 1795706375.291741000, first MiB xxh64 1f2e..." of a one-file input; of
// several files (input_files.h), one "'path' size N, modified T" line each, in their order, from
// the listing: no file is read (hashing the first MiB of each of 100,000 part files would read
// 100 GB at start-up), so a file replaced by one of the same size and time is not noticed.
std::string inputIdentity(const InputListing& listing);

// Hash of the settings and files that decide the results: job (but not output or checkpoint
// pacing), embedder, critics (and the rules file's bytes), aggregate, and the corpus files'
// identities. Logging, devices, dtypes and timeouts are left out: they do not change results.
std::string resultSettingsHash(const JobConfig& config);

void writeCheckpoint(const std::string& stagingDir, const Checkpoint& checkpoint);
// Throws UserError when there is none or it cannot be read.
Checkpoint readCheckpoint(const std::string& stagingDir);
// Whether `stagingDir` holds a checkpoint (an unfinished run that committed some rounds).
bool hasCheckpoint(const std::string& stagingDir);

// How a start of `run` or `index` treats an unfinished one in its output folder.
struct ResumeOptions {
  // Continue it from its last checkpoint instead of starting over; refused when the input, the
  // settings that decide the output, or the world size changed.
  bool resume = false;
  // Resume where the folder holds an unfinished one with a checkpoint, else start afresh (a
  // requeued batch job's restart: scheduled again after a node failure or a stop).
  bool resumeIfUnfinished = false;
};

// Collective: whether this start resumes. With --resume-if-unfinished rank 0 asks
// `unfinishedOnRoot` (run there only) and logs what it found ("... holds an unfinished
// `what`").
bool decideResume(Communicator& comm, const ResumeOptions& options, const std::string& what,
                  const std::string& stagingDir, const std::function<bool()>& unfinishedOnRoot);

// Why `saved` cannot be resumed by a job with `current`'s identity, settings and world size
// ("" when it can).
std::string resumeRefusal(const Checkpoint& saved, const Checkpoint& current);

}  // namespace eleanor
