#include "worker/index_staging.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/mapped_file.h"

namespace eleanor {
namespace {

constexpr const char* kBuildFile = "build.json";

int64_t fileSize(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw UserError(
        fmt::format("staging file '{}' is missing ({}): start the index without "
                    "--resume",
                    path, std::strerror(errno)));
  return static_cast<int64_t>(info.st_size);
}

nlohmann::json readJson(const std::string& path) {
  const MappedFile file(path);
  try {
    return nlohmann::json::parse(file.view());
  } catch (const nlohmann::json::exception& e) {
    throw UserError(
        fmt::format("'{}' is damaged ({}): start the index without --resume", path, e.what()));
  }
}

int openFile(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  return fd;
}

}  // namespace

std::string indexStagingDirOf(const std::string& outputDir) {
  return (std::filesystem::path(outputDir) / ".eleanor-index-partial").string();
}

void startIndexStaging(const std::string& stagingDir, const IndexBuildIdentity& identity) {
  std::error_code error;
  std::filesystem::create_directories(stagingDir, error);
  if (error) throw UserError(fmt::format("cannot create '{}': {}", stagingDir, error.message()));
  removeFilesIn(stagingDir);
  nlohmann::ordered_json json;
  json["version"] = 1;
  json["input"] = identity.input;
  json["settings"] = identity.settings;
  json["world_size"] = identity.worldSize;
  writeFileAtomically(stagingDir + "/" + kBuildFile, json.dump(2) + "\n");
}

bool hasIndexStaging(const std::string& stagingDir) {
  struct stat info {};
  return ::stat((stagingDir + "/" + kBuildFile).c_str(), &info) == 0;
}

IndexBuildIdentity readIndexBuildIdentity(const std::string& stagingDir) {
  if (!hasIndexStaging(stagingDir))
    throw UserError(fmt::format(
        "nothing to resume: '{}' holds no unfinished index build; start without --resume",
        stagingDir));
  const std::string path = stagingDir + "/" + kBuildFile;
  const nlohmann::json json = readJson(path);
  try {
    return {json.at("input"), json.at("settings"), json.at("world_size")};
  } catch (const nlohmann::json::exception& e) {
    throw UserError(
        fmt::format("'{}' is damaged ({}): start the index without --resume", path, e.what()));
  }
}

std::string indexResumeRefusal(const IndexBuildIdentity& saved, const IndexBuildIdentity& current) {
  if (saved.input != current.input)
    return fmt::format(
        "the precedents file changed since the build began (then: {}; now: {}): resume only "
        "with the same --input, or start without --resume",
        saved.input, current.input);
  if (saved.settings != current.settings)
    return "the embedder (its settings, model, device or dtype) or job.max_line_bytes changed "
           "since the build began: resume with the same config and --set options, or start "
           "without --resume";
  if (saved.worldSize != current.worldSize)
    return fmt::format("the build began on {} ranks and this one has {}: resume on {} ranks",
                       saved.worldSize, current.worldSize, saved.worldSize);
  return "";
}

IndexSpool::IndexSpool(std::string stagingDir, int rank, int64_t dim, bool resume)
    : stagingDir_(std::move(stagingDir)), rank_(rank), dim_(dim) {
  const std::string checkpoint = path("checkpoint");
  struct stat info {};
  if (!resume) ::unlink(checkpoint.c_str());  // nothing is committed of a fresh start
  if (resume && ::stat(checkpoint.c_str(), &info) == 0) {
    const nlohmann::json json = readJson(checkpoint);
    try {
      progress_.lines = json.at("lines");
      progress_.rows = json.at("rows");
      progress_.metaBytes = json.at("meta_bytes");
      progress_.errorBytes = json.at("error_bytes");
      progress_.errors = json.at("errors");
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("'{}' is damaged ({}): start the index without --resume",
                                  checkpoint, e.what()));
    }
  }
  const auto open = [&](const char* kind, int64_t committed) {
    const std::string file = path(kind);
    // (nothing committed: a rank killed before its first commit, or before it made its files)
    if (!resume || committed == 0) return openFile(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    if (fileSize(file) < committed)
      throw UserError(
          fmt::format("staging file '{}' is shorter than its checkpoint ({} bytes): "
                      "start the index without --resume",
                      file, committed));
    if (::truncate(file.c_str(), committed) != 0)
      throw UserError(
          fmt::format("cannot cut '{}' back to its checkpoint: {}", file, std::strerror(errno)));
    return openFile(file, O_WRONLY | O_APPEND);
  };
  rowsFd_ = open("rows", bytesOf("rows"));
  metaFd_ = open("meta", bytesOf("meta"));
  errorsFd_ = open("errors", bytesOf("errors"));
}

IndexSpool::~IndexSpool() {
  for (const int fd : {rowsFd_, metaFd_, errorsFd_})
    if (fd >= 0) ::close(fd);
}

std::string IndexSpool::path(const char* kind) const {
  const std::string_view k = kind;
  const char* suffix = k == "rows"         ? "rows.f32"
                       : k == "meta"       ? "meta.jsonl"
                       : k == "errors"     ? "errors.jsonl"
                       : k == "checkpoint" ? "json"
                                           : nullptr;
  ELEANOR_ASSERT(suffix != nullptr, "unknown index staging file kind");
  return fmt::format("{}/rank-{:05d}.{}", stagingDir_, rank_, suffix);
}

int64_t IndexSpool::bytesOf(const char* kind) const {
  const std::string_view k = kind;
  if (k == "rows") return progress_.rows * dim_ * static_cast<int64_t>(sizeof(float));
  if (k == "meta") return progress_.metaBytes;
  ELEANOR_ASSERT(k == "errors", "unknown index staging file kind");
  return progress_.errorBytes;
}

void IndexSpool::append(int64_t lines, std::span<const float> rows, std::string_view meta,
                        std::string_view errors, int64_t errorCount) {
  ELEANOR_ASSERT(rows.size() % static_cast<size_t>(dim_) == 0, "whole rows only");
  writeAll(rowsFd_, reinterpret_cast<const char*>(rows.data()), rows.size_bytes(), path("rows"));
  writeAll(metaFd_, meta.data(), meta.size(), path("meta"));
  writeAll(errorsFd_, errors.data(), errors.size(), path("errors"));
  // Counted only once all three are written: a failure part-way leaves the last commit intact.
  progress_.lines += lines;
  progress_.rows += static_cast<int64_t>(rows.size()) / dim_;
  progress_.metaBytes += static_cast<int64_t>(meta.size());
  progress_.errorBytes += static_cast<int64_t>(errors.size());
  progress_.errors += errorCount;
}

void IndexSpool::commit() {
  for (const auto& [fd, kind] :
       {std::pair{rowsFd_, "rows"}, {metaFd_, "meta"}, {errorsFd_, "errors"}})
    if (::fsync(fd) != 0)
      throw UserError(
          fmt::format("cannot flush '{}' to disk: {}", path(kind), std::strerror(errno)));
  nlohmann::ordered_json json;
  json["lines"] = progress_.lines;
  json["rows"] = progress_.rows;
  json["meta_bytes"] = progress_.metaBytes;
  json["error_bytes"] = progress_.errorBytes;
  json["errors"] = progress_.errors;
  writeFileAtomically(path("checkpoint"), json.dump(2) + "\n");
}

void IndexSpool::copyInto(const char* kind, const std::string& target, int64_t offset) const {
  const int64_t bytes = bytesOf(kind);
  const std::string source = path(kind);
  const int in = openFile(source, O_RDONLY);
  int out = -1;
  try {
    out = openFile(target, O_WRONLY);
    std::vector<char> buffer(size_t{4} << 20);
    for (int64_t done = 0; done < bytes;) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(buffer.size(), bytes - done));
      const ssize_t got = ::pread(in, buffer.data(), want, done);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw UserError(fmt::format("cannot read '{}': {}", source,
                                    got < 0 ? std::strerror(errno) : "shorter than expected"));
      for (ssize_t put = 0; put < got;) {
        const ssize_t wrote =
            ::pwrite(out, buffer.data() + put, static_cast<size_t>(got - put), offset + done + put);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote < 0)
          throw UserError(fmt::format("cannot write '{}': {}", target, std::strerror(errno)));
        put += wrote;
      }
      done += got;
    }
    const int fd = out;
    out = -1;  // syncAndClose closes it, also when it throws
    syncAndClose(fd, target);
  } catch (...) {
    if (out >= 0) ::close(out);
    ::close(in);
    throw;
  }
  ::close(in);
}

std::string IndexSpool::read(const char* kind) const {
  const MappedFile file(path(kind));
  return std::string(file.view().substr(0, static_cast<size_t>(bytesOf(kind))));
}

}  // namespace eleanor
