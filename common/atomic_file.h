// Writing a whole file so that readers see the old file or the new one, never a partial one:
// write a temporary name beside it, flush it to disk, rename it over the target.
#pragma once

#include <string>
#include <string_view>

namespace eleanor {

// Throws UserError naming the path and the system's reason on failure.
void writeFileAtomically(const std::string& path, std::string_view text);

// write(2) all of `size` bytes, retrying on EINTR; throws UserError naming `path`.
void writeAll(int fd, const char* data, size_t size, const std::string& path);

// fsync + close; throws UserError naming `path`.
void syncAndClose(int fd, const std::string& path);

// rename(2) with an error naming both paths.
void renameFile(const std::string& from, const std::string& to);

// Unlinks the entries of `dir`, a staging folder of plain files (POSIX, not std::filesystem:
// PyTorch's wheels export their own copies of some std::filesystem functions, and remove_all
// among them crashes). Nothing happens where `dir` does not exist.
void removeFilesIn(const std::string& dir);

}  // namespace eleanor
