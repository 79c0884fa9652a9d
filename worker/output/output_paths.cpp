#include "worker/output/output_paths.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <utility>

#include "common/error.h"

namespace eleanor {
namespace fs = std::filesystem;
namespace {

// Both exist and are one file or folder (stat(2): POSIX rather than std::filesystem, whose
// functions PyTorch's wheels may replace; see removeFilesIn). A path that does not exist is
// nothing the job reads: the input and the corpus exist by the time this is asked.
bool samePath(const fs::path& a, const fs::path& b) {
  struct stat left {};
  struct stat right {};
  return ::stat(a.c_str(), &left) == 0 && ::stat(b.c_str(), &right) == 0 &&
         left.st_dev == right.st_dev && left.st_ino == right.st_ino;
}

// The first of `inputs` that `output` would overwrite under one of `names` (or its ".tmp"), and
// that name. Each path is stat'ed once: an input of 100,000 part files costs 100,000 stats here.
std::optional<std::pair<std::string, std::string>> writtenOver(
    const std::vector<std::string>& inputs, const std::string& output,
    std::initializer_list<const char*> names) {
  std::map<std::pair<dev_t, ino_t>, std::string> written;
  for (const char* name : names) {
    for (const char* suffix : {"", ".tmp"}) {
      const fs::path path = fs::path(output) / (std::string(name) + suffix);
      struct stat info {};
      if (::stat(path.c_str(), &info) == 0)
        written.emplace(std::pair(info.st_dev, info.st_ino), name);
    }
  }
  if (written.empty()) return std::nullopt;
  for (const auto& input : inputs) {
    struct stat info {};
    if (::stat(input.c_str(), &info) != 0) continue;
    if (const auto at = written.find(std::pair(info.st_dev, info.st_ino)); at != written.end())
      return std::pair(input, at->second);
  }
  return std::nullopt;
}

}  // namespace

void checkRunOutputFolder(const std::vector<std::string>& inputs, const std::string& precedents,
                          const std::string& output) {
  if (samePath(output, precedents))
    throw UserError(fmt::format(
        "job.output '{}' is the corpus folder (job.precedents): the job's errors.jsonl would "
        "replace the corpus's (the precedents `index` refused); give job.output another folder",
        output));
  if (auto over = writtenOver(inputs, output, {"results.jsonl", "errors.jsonl", "report.json"}))
    throw UserError(fmt::format(
        "job.input '{}' is the {} this job writes in job.output '{}': it would be replaced; "
        "give job.output another folder (or move the input)",
        over->first, over->second, output));
}

void checkIndexOutputFolder(const std::vector<std::string>& inputs, const std::string& output) {
  if (auto over = writtenOver(inputs, output,
                              {"embeddings.npy", "meta.jsonl", "errors.jsonl", "index.json"}))
    throw UserError(fmt::format(
        "--input '{}' is the {} this build writes in --out '{}': it would be replaced; give "
        "--out another folder (or move the input)",
        over->first, over->second, output));
}

}  // namespace eleanor
