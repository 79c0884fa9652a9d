#include "worker/output/result_spool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace eleanor {
namespace fs = std::filesystem;

namespace {

int openForWrite(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  return fd;
}

}  // namespace

std::string stagingDirOf(const std::string& outputDir) {
  return (fs::path(outputDir) / ".eleanor-partial").string();
}

ResultSpool::ResultSpool(std::string outputDir, int worldSize, bool resume)
    : outputDir_(std::move(outputDir)), worldSize_(worldSize) {
  std::error_code error;
  fs::create_directories(outputDir_, error);
  if (error || !fs::is_directory(outputDir_))
    throw UserError(fmt::format("cannot create the output folder '{}' (job.output): {}", outputDir_,
                                error ? error.message() : "not a folder"));
  stagingDir_ = stagingDirOf(outputDir_);
  if (resume) {
    if (!fs::is_directory(stagingDir_))
      throw UserError(
          fmt::format("nothing to resume in '{}': no unfinished run there (start "
                      "without --resume)",
                      outputDir_));
    return;
  }
  fs::create_directories(stagingDir_, error);
  if (error)
    throw UserError(fmt::format("cannot write in the output folder '{}' (job.output): {}",
                                outputDir_, error.message()));
  removeFilesIn(stagingDir_);  // an unfinished run's spools and checkpoint
  for (int r = 0; r < worldSize_; ++r) {
    for (const char* kind : {"results", "errors"}) {
      const std::string path = spoolPath(r, kind);
      ::close(openForWrite(path, O_CREAT | O_TRUNC));
    }
  }
}

std::vector<int64_t> ResultSpool::sizes(const char* kind) const {
  std::vector<int64_t> out;
  for (int r = 0; r < worldSize_; ++r) {
    struct stat info {};
    if (::stat(spoolPath(r, kind).c_str(), &info) != 0)
      throw UserError(fmt::format("staging file '{}' is missing: {}", spoolPath(r, kind),
                                  std::strerror(errno)));
    out.push_back(static_cast<int64_t>(info.st_size));
  }
  return out;
}

void ResultSpool::sync() const {
  for (int r = 0; r < worldSize_; ++r) {
    for (const char* kind : {"results", "errors"}) {
      const std::string path = spoolPath(r, kind);
      syncAndClose(openForWrite(path, O_APPEND), path);
    }
  }
}

void ResultSpool::truncate(const std::vector<int64_t>& results,
                           const std::vector<int64_t>& errors) const {
  for (int r = 0; r < worldSize_; ++r) {
    for (const auto& [kind, sizes] :
         {std::pair{"results", &results}, std::pair{"errors", &errors}}) {
      const std::string path = spoolPath(r, kind);
      if (::truncate(path.c_str(), (*sizes)[r]) != 0)
        throw UserError(
            fmt::format("cannot cut '{}' back to its checkpoint: {}", path, std::strerror(errno)));
    }
  }
}

std::string ResultSpool::spoolPath(int rank, const char* kind) const {
  return fmt::format("{}/rank-{:05d}.{}.jsonl", stagingDir_, rank, kind);
}

void ResultSpool::append(int sourceRank, const std::vector<std::string>& results,
                         const std::vector<std::string>& errors) {
  const auto join = [](const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) {
      text += line;
      text += '\n';
    }
    return text;
  };
  appendText(sourceRank, join(results), join(errors));
}

void ResultSpool::appendText(int sourceRank, std::string_view results, std::string_view errors) {
  const auto add = [&](const char* kind, std::string_view text) {
    if (text.empty()) return;
    const std::string path = spoolPath(sourceRank, kind);
    const int fd = openForWrite(path, O_APPEND);
    writeAll(fd, text.data(), text.size(), path);
    ::close(fd);
  };
  add("results", results);
  add("errors", errors);
}

void ResultSpool::concatenate(const char* kind, const std::string& finalName) const {
  const std::string target = (fs::path(outputDir_) / finalName).string();
  const std::string temporary = target + ".tmp";
  const int fd = openForWrite(temporary, O_CREAT | O_TRUNC);
  bool open = true;
  try {
    std::vector<char> buffer(1 << 20);
    for (int r = 0; r < worldSize_; ++r) {
      std::ifstream in(spoolPath(r, kind), std::ios::binary);
      while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        writeAll(fd, buffer.data(), static_cast<size_t>(in.gcount()), temporary);
      }
    }
    open = false;  // syncAndClose closes fd, also when it throws
    syncAndClose(fd, temporary);
  } catch (...) {
    if (open) ::close(fd);
    ::unlink(temporary.c_str());  // a full disk keeps no half copy
    throw;
  }
  renameFile(temporary, target);
}

void ResultSpool::commitErrorsOnly() const {
  concatenate("errors", "errors.jsonl");
}

void ResultSpool::commit() {
  concatenate("results", "results.jsonl");
  concatenate("errors", "errors.jsonl");
  removeFilesIn(stagingDir_);
  ::rmdir(stagingDir_.c_str());
}

void ResultSpool::writeFile(const std::string& name, std::string_view text) const {
  writeFileAtomically((fs::path(outputDir_) / name).string(), text);
}

}  // namespace eleanor
