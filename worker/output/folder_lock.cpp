#include "worker/output/folder_lock.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/process_identity.h"

namespace eleanor {
namespace {

// Who holds the lock, as its file records it ("another process" where it has not written it
// yet, or what it wrote is unreadable).
std::string describeHolder(int fd) {
  char buffer[4096];
  const ssize_t got = ::pread(fd, buffer, sizeof(buffer), 0);
  if (got <= 0) return "another process, which has not yet written who it is";
  const auto holder =
      nlohmann::json::parse(std::string_view(buffer, static_cast<size_t>(got)), nullptr, false);
  if (!holder.is_object() || !holder.contains("pid") || !holder.contains("host"))
    return "another process";
  std::string who =
      fmt::format("pid {} on {}", holder["pid"].dump(), holder["host"].get<std::string>());
  if (holder.contains("slurm_job") && holder["slurm_job"].is_string())
    who += fmt::format(", Slurm job {}", holder["slurm_job"].get<std::string>());
  if (holder.contains("since") && holder["since"].is_string())
    who += fmt::format(", since {}", holder["since"].get<std::string>());
  return who;
}

void recordHolder(int fd) {
  nlohmann::json holder = {{"host", hostName()}, {"pid", static_cast<int64_t>(::getpid())}};
  if (const char* job = std::getenv("SLURM_JOB_ID")) holder["slurm_job"] = job;
  holder["since"] = fmt::format(
      "{:%Y-%m-%d %H:%M:%S} UTC",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  const std::string text = holder.dump() + "\n";
  // Best effort: a full disk must not stop a job that could otherwise run; the lock itself is
  // what excludes, the record only words the refusal.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, text.data(), text.size(), 0);
}

bool sameFile(int fd, const std::string& path) {
  struct stat opened {};
  struct stat named {};
  return ::fstat(fd, &opened) == 0 && ::stat(path.c_str(), &named) == 0 &&
         opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

}  // namespace

FolderLock::FolderLock(const std::string& folder, std::string_view setting)
    : path_((std::filesystem::path(folder) / ".eleanor-lock").string()) {
  std::error_code error;
  const bool existed = std::filesystem::exists(folder, error);
  std::filesystem::create_directories(folder, error);
  if (error || !std::filesystem::is_directory(folder))
    throw UserError(fmt::format("cannot create the output folder '{}' ({}): {}", folder, setting,
                                error ? error.message() : "not a folder"));
  if (!existed) createdFolder_ = folder;
  for (;;) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw UserError(fmt::format("cannot create '{}' in the output folder ({}): {}", path_,
                                  setting, std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int saved = errno;
      if (saved == EINTR) {
        ::close(fd);
        continue;
      }
      if (saved == EWOULDBLOCK) {
        const std::string holder = describeHolder(fd);
        ::close(fd);
        throw UserError(fmt::format(
            "{} '{}' is in use by another job ({}): two jobs writing one folder would destroy "
            "each other's results; wait for that job to end (or stop it: kill -USR1), or give "
            "this one another folder",
            setting, folder, holder));
      }
      ::close(fd);
      if (saved == ENOLCK || saved == EOPNOTSUPP || saved == ENOSYS) {
        spdlog::warn(
            "the filesystem of '{}' ({}) has no file locks ({}): nothing stops a second "
            "job from writing the same folder at the same time; make sure none does",
            folder, setting, std::strerror(saved));
        return;
      }
      throw UserError(
          fmt::format("cannot lock '{}' ({}): {}", path_, setting, std::strerror(saved)));
    }
    // The holder before us may have removed the file between our open and our lock: then this
    // lock is on a file nobody else can find. Take the one at the path instead.
    if (sameFile(fd, path_)) {
      fd_ = fd;
      break;
    }
    ::close(fd);
  }
  recordHolder(fd_);
}

std::optional<std::string> FolderLock::holderOf(const std::string& folder) {
  const std::string path = (std::filesystem::path(folder) / ".eleanor-lock").string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no file: no holder
  std::optional<std::string> holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) holder = describeHolder(fd);
  } else {
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
  return holder;
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) {
    // Removed while still held, so that whoever opens the path next opens a new file (or finds
    // none) and a waiter holding the old one sees it is gone (sameFile) and retries.
    ::unlink(path_.c_str());
    ::close(fd_);
  }
  // remove() takes only an empty folder: one holding anything stays, unreported.
  std::error_code error;
  if (!createdFolder_.empty()) std::filesystem::remove(createdFolder_, error);
}

}  // namespace eleanor
