// FolderLock: one job at a time in an output folder. Two jobs writing one folder (a Slurm array
// task repeated, a job resubmitted while the first still runs, a --resume typed beside a running
// job) would truncate each other's staged rounds and rename their results over each other's.
// An exclusive flock(2) on `<folder>/.eleanor-lock`, held for the object's life: the kernel
// drops it when the process dies, so a killed job leaves no stale lock and its --resume starts
// at once. The file says who holds it (host, pid, Slurm job, since when), for the refusal, and
// is removed when the lock is released.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eleanor {

class FolderLock {
 public:
  // Creates `folder` if needed and takes its lock. A folder it created is removed again with the
  // lock where nothing was written to it (a job refused at start-up leaves no folder behind).
  // Throws UserError naming `setting` (where the folder came from: "job.output", "--out") when the
  // folder cannot be created, or when another process holds the lock: the message names that
  // process. Where the filesystem has no locks (ENOLCK, EOPNOTSUPP, ENOSYS: some NFS or Lustre
  // mounts) it logs a warning and holds nothing.
  FolderLock(const std::string& folder, std::string_view setting);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  // Who holds `folder`'s lock now (the refusal's description of the holder), or nothing where
  // no process does. Takes a shared lock for an instant to find out; creates nothing.
  static std::optional<std::string> holderOf(const std::string& folder);

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string createdFolder_;  // the folder, where this lock created it
  int fd_ = -1;
};

}  // namespace eleanor
