#include "common/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace eleanor {

void writeAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
}

void syncAndClose(int fd, const std::string& path) {
  const bool synced = ::fsync(fd) == 0;
  const int saved = errno;
  if (::close(fd) != 0 || !synced)
    throw UserError(
        fmt::format("cannot flush '{}' to disk: {}", path, std::strerror(synced ? errno : saved)));
}

void renameFile(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw UserError(fmt::format("cannot rename '{}' to '{}': {}", from, to, std::strerror(errno)));
}

void removeFilesIn(const std::string& dir) {
  DIR* folder = ::opendir(dir.c_str());
  if (!folder) return;
  while (const dirent* entry = ::readdir(folder)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(folder);
}

void writeFileAtomically(const std::string& path, std::string_view text) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw UserError(fmt::format("cannot write '{}': {}", temporary, std::strerror(errno)));
  try {
    writeAll(fd, text.data(), text.size(), temporary);
  } catch (...) {
    ::close(fd);
    throw;
  }
  syncAndClose(fd, temporary);
  renameFile(temporary, path);
}

}  // namespace eleanor
