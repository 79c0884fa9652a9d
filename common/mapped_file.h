// MappedFile: a read-only memory map of a whole file (RAII). Pages are read on first touch, so
// mapping a large file and reading one range of it reads only that range from disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace eleanor {

// What a file was when it was opened: its size and modification time (nanoseconds since the
// epoch). Ranks compare them to know they read one version of a shared file.
struct FileStamp {
  int64_t bytes = 0;
  int64_t modifiedNs = 0;
  bool operator==(const FileStamp&) const = default;
};

class MappedFile {
 public:
  // Throws UserError naming `path` when it cannot be opened or mapped. An empty file maps to
  // an empty view.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // The file's size and modification time when it was opened (fstat of the mapped descriptor).
  FileStamp stamp() const { return stamp_; }

  // Hint that [offset, offset+length) will be read front to back.
  void adviseSequential(size_t offset, size_t length) const;

 private:
  void release();
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  FileStamp stamp_;
};

}  // namespace eleanor
