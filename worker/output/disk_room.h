// Whether the output folder's file system has room for the rest of a job (or an index build),
// projected from the rounds already staged: the remaining rounds at the bytes a line has taken
// so far, then the final copy of every staged line into the output files (the staging is
// removed only after it). A job of millions of cases that would fill the disk says so in its first
// minute, not at its end. An estimate, so a warning: the job goes on, and a full disk still stops
// it with its rounds committed (--resume finishes it once there is room).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace eleanor {

struct StagedProgress {
  int64_t stagedBytes = 0;  // results and errors staged so far (every rank's spool)
  int64_t linesDone = 0;    // the input lines they hold
  int64_t totalLines = 0;   // the input's
};

// The bytes the rest of the job still writes to job.output at its peak (remaining rounds plus
// the final copy); 0 before any line is done.
int64_t bytesStillNeeded(const StagedProgress& progress);

// What the final copy writes and the setting that names the folder: a job's, an index build's.
struct OutputFolder {
  std::string path;
  std::string setting;     // "job.output", "--out"
  std::string finalFiles;  // "results.jsonl and errors.jsonl"
};

// The warning when `freeBytes` (-1: unknown, no warning) is less than bytesStillNeeded,
// naming the folder and the figures; nullopt when there is room.
std::optional<std::string> diskRoomWarning(const OutputFolder& folder,
                                           const StagedProgress& progress, int64_t freeBytes);

// What an unprivileged process may still write on the file system holding `path`
// (statvfs: f_bavail x f_frsize), or -1 where it cannot be asked.
int64_t fileSystemFreeBytes(const std::string& path);

}  // namespace eleanor
