#include "worker/output/result_spool.h"

#include <fcntl.h>
#include <fmt/format.h>
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

ResultSpool::ResultSpool(std::string outputDir, int worldSize)
    : outputDir_(std::move(outputDir)), worldSize_(worldSize) {
  std::error_code error;
  fs::create_directories(outputDir_, error);
  if (error || !fs::is_directory(outputDir_))
    throw UserError(fmt::format("cannot create the output folder '{}' (job.output): {}", outputDir_,
                                error ? error.message() : "not a folder"));
  stagingDir_ = (fs::path(outputDir_) / fmt::format(".staging-{}", ::getpid())).string();
  fs::create_directories(stagingDir_, error);
  if (error)
    throw UserError(fmt::format("cannot write in the output folder '{}' (job.output): {}",
                                outputDir_, error.message()));
  for (int r = 0; r < worldSize_; ++r) {
    for (const char* kind : {"results", "errors"}) {
      const std::string path = spoolPath(r, kind);
      ::close(openForWrite(path, O_CREAT | O_TRUNC));
    }
  }
}

std::string ResultSpool::spoolPath(int rank, const char* kind) const {
  return fmt::format("{}/rank-{:05d}.{}.jsonl", stagingDir_, rank, kind);
}

void ResultSpool::append(int sourceRank, const std::vector<std::string>& results,
                         const std::vector<std::string>& errors) {
  const auto add = [&](const char* kind, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    std::string text;
    for (const auto& line : lines) {
      text += line;
      text += '\n';
    }
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
  std::vector<char> buffer(1 << 20);
  for (int r = 0; r < worldSize_; ++r) {
    std::ifstream in(spoolPath(r, kind), std::ios::binary);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      writeAll(fd, buffer.data(), static_cast<size_t>(in.gcount()), temporary);
    }
  }
  syncAndClose(fd, temporary);
  renameFile(temporary, target);
}

void ResultSpool::commit() {
  concatenate("results", "results.jsonl");
  concatenate("errors", "errors.jsonl");
  // The staging folder holds only our spool files. Removed with unlink/rmdir rather than
  // std::filesystem::remove_all: PyTorch's wheels export their own copy of that function,
  // which wins symbol resolution and crashes (seen with LibTorch 2.11 on the GPU machine).
  for (int r = 0; r < worldSize_; ++r) {
    for (const char* kind : {"results", "errors"}) ::unlink(spoolPath(r, kind).c_str());
  }
  ::rmdir(stagingDir_.c_str());
}

void ResultSpool::writeFile(const std::string& name, std::string_view text) const {
  writeFileAtomically((fs::path(outputDir_) / name).string(), text);
}

}  // namespace eleanor
