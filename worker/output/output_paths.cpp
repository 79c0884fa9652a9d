#include "worker/output/output_paths.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <initializer_list>
#include <optional>

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

// The name under which `output` would overwrite `input`, if it would.
std::optional<std::string> writtenOver(const std::string& input, const std::string& output,
                                       std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const fs::path written = fs::path(output) / name;
    if (samePath(input, written) || samePath(input, fs::path(written) += ".tmp")) return name;
  }
  return std::nullopt;
}

}  // namespace

void checkRunOutputFolder(const std::string& input, const std::string& precedents,
                          const std::string& output) {
  if (samePath(output, precedents))
    throw UserError(fmt::format(
        "job.output '{}' is the corpus folder (job.precedents): the job's errors.jsonl would "
        "replace the corpus's (the precedents `index` refused); give job.output another folder",
        output));
  if (auto name = writtenOver(input, output, {"results.jsonl", "errors.jsonl", "report.json"}))
    throw UserError(fmt::format(
        "job.input '{}' is the {} this job writes in job.output '{}': it would be replaced; "
        "give job.output another folder (or move the input)",
        input, *name, output));
}

void checkIndexOutputFolder(const std::string& input, const std::string& output) {
  if (auto name = writtenOver(input, output,
                              {"embeddings.npy", "meta.jsonl", "errors.jsonl", "index.json"}))
    throw UserError(fmt::format(
        "--input '{}' is the {} this build writes in --out '{}': it would be replaced; give "
        "--out another folder (or move the input)",
        input, *name, output));
}

}  // namespace eleanor
