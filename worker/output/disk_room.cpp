#include "worker/output/disk_room.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <algorithm>

#include "common/host_memory.h"

namespace eleanor {

namespace {

struct Projection {
  int64_t perLine = 0;    // bytes a line has taken so far
  int64_t remaining = 0;  // the remaining lines' rounds
  int64_t finalCopy = 0;  // results.jsonl and errors.jsonl, copied from every round
};

Projection project(const StagedProgress& progress) {
  if (progress.linesDone <= 0) return {};
  const double perLine =
      static_cast<double>(progress.stagedBytes) / static_cast<double>(progress.linesDone);
  const int64_t lines = std::max(progress.totalLines, progress.linesDone);
  return {static_cast<int64_t>(perLine),
          static_cast<int64_t>(perLine * static_cast<double>(lines - progress.linesDone)),
          static_cast<int64_t>(perLine * static_cast<double>(lines))};
}

}  // namespace

int64_t bytesStillNeeded(const StagedProgress& progress) {
  const Projection p = project(progress);
  return p.remaining + p.finalCopy;
}

std::optional<std::string> diskRoomWarning(const OutputFolder& folder,
                                           const StagedProgress& progress, int64_t freeBytes) {
  const Projection p = project(progress);
  if (freeBytes < 0 || p.remaining + p.finalCopy <= freeBytes) return std::nullopt;
  return fmt::format(
      "{} '{}' has {} free, but the rest of this job needs about {} there: at {} a line (over "
      "the {} lines done), {} for the remaining {} lines' rounds, then {} for the final copy "
      "into {} (the staged rounds are removed only after it). "
      "Make room now, or the job stops when the disk is full (its committed rounds are kept: "
      "--resume finishes it once there is room)",
      folder.setting, folder.path, byteSizeText(freeBytes), byteSizeText(p.remaining + p.finalCopy),
      byteSizeText(p.perLine), progress.linesDone, byteSizeText(p.remaining),
      std::max<int64_t>(0, progress.totalLines - progress.linesDone), byteSizeText(p.finalCopy),
      folder.finalFiles);
}

int64_t fileSystemFreeBytes(const std::string& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return -1;
  return static_cast<int64_t>(info.f_bavail) * static_cast<int64_t>(info.f_frsize);
}

}  // namespace eleanor
