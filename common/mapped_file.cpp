#include "common/mapped_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/error.h"

namespace eleanor {
namespace {
// The file is mapped so that each rank reads only its byte range: what is not a regular file
// (a pipe from process substitution, a device) has no ranges to map.
std::string notRegularFileMessage(const std::string& path, mode_t mode) {
  if (S_ISDIR(mode)) return fmt::format("'{}' is a folder, not a file", path);
  const char* kind = S_ISFIFO(mode)   ? "a pipe"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                     : S_ISSOCK(mode) ? "a socket"
                                      : "not a regular file";
  return fmt::format(
      "'{}' is {}: the file is memory-mapped so that each rank reads only its "
      "byte range, which needs a regular file; write the data to a file first "
      "and give that file",
      path, kind);
}
}  // namespace

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw UserError(fmt::format("cannot open '{}': {}", path_, std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int saved = errno;
    ::close(fd);
    throw UserError(fmt::format("cannot stat '{}': {}", path_, std::strerror(saved)));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw UserError(notRegularFileMessage(path_, info.st_mode));
  }
  size_ = static_cast<size_t>(info.st_size);
  stamp_ = {static_cast<int64_t>(info.st_size),
            static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  if (size_ > 0) {
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      const int saved = errno;
      ::close(fd);
      throw UserError(fmt::format("cannot map '{}': {}", path_, std::strerror(saved)));
    }
    data_ = static_cast<const char*>(mapped);
  }
  ::close(fd);  // the mapping keeps the file open
}

MappedFile::~MappedFile() {
  release();
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      stamp_(other.stamp_) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    stamp_ = other.stamp_;
  }
  return *this;
}

void MappedFile::release() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

void MappedFile::adviseSequential(size_t offset, size_t length) const {
  if (!data_ || length == 0) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t start = offset / page * page;
  ::madvise(const_cast<char*>(data_) + start, length + (offset - start), MADV_SEQUENTIAL);
}

}  // namespace eleanor
