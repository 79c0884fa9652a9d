#include "worker/cases/input_files.h"

#include <dirent.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <glob.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "common/agreement.h"
#include "common/error.h"
#include "worker/cases/compressed_input.h"

namespace eleanor {
namespace {

// POSIX, not std::filesystem (see removeFilesIn in atomic_file.h).
bool statPath(const std::string& path, struct stat& info) {
  return ::stat(path.c_str(), &info) == 0;
}

// *.jsonl, *.ndjson, *.json, each also compressed (.gz, .zst: compressed_input.h).
bool isJsonLinesName(std::string_view name) {
  for (const Compression kind : {Compression::gzip, Compression::zstd})
    if (name.ends_with(compressionSuffix(kind))) name.remove_suffix(compressionSuffix(kind).size());
  return name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json");
}

bool hasGlobCharacters(std::string_view entry) {
  return entry.find_first_of("*?[") != std::string_view::npos;
}

std::string joinPath(const std::string& folder, const std::string& name) {
  return !folder.empty() && folder.back() == '/' ? folder + name : folder + "/" + name;
}

// A folder's JSON lines files, by name.
std::vector<std::string> folderFiles(const std::string& folder, std::string_view setting) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(folder.c_str()), ::closedir);
  if (!dir)
    throw UserError(
        fmt::format("cannot list folder '{}' ({}): {}", folder, setting, std::strerror(errno)));
  std::vector<std::string> names;
  std::vector<std::string> others;
  std::vector<std::string> folders;  // not read into: partitioned output (date=.../part-*)
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    // The entry's type from the listing where the file system gives it (no stat per file).
    bool isFolder = entry->d_type == DT_DIR;
    if (entry->d_type != DT_REG && !isFolder) {
      struct stat info {};
      if (entry->d_type != DT_UNKNOWN && entry->d_type != DT_LNK) continue;
      if (!statPath(joinPath(folder, name), info)) continue;
      isFolder = S_ISDIR(info.st_mode);
      if (!isFolder && !S_ISREG(info.st_mode)) continue;
    }
    (isFolder ? folders : isJsonLinesName(name) ? names : others).push_back(name);
  }
  std::sort(folders.begin(), folders.end());
  // What reads a partitioned folder's files (Hive / Spark: DIR/date=2026-12-07/part-0.jsonl.gz).
  const std::string pattern = joinPath(folder, "*/*.jsonl*");
  if (names.empty()) {
    std::sort(others.begin(), others.end());
    throw UserError(fmt::format(
        "folder '{}' ({}) holds no JSON lines file (*.jsonl, *.ndjson, *.json, or one of these "
        "compressed: .gz, .zst){}{}: give the files themselves, a pattern that matches them{}, "
        "or another folder",
        folder, setting,
        others.empty()
            ? std::string()
            : fmt::format("; it holds {} other file(s), e.g. '{}'", others.size(), others.front()),
        folders.empty() ? std::string()
                        : fmt::format("; it holds {} folder(s), e.g. '{}', which are not searched",
                                      folders.size(), folders.front()),
        folders.empty() ? std::string()
                        : fmt::format(" ('{}' for the JSON lines files of its folders)", pattern)));
  }
  if (!folders.empty())
    spdlog::warn(
        "folder '{}' ({}): its {} folder(s) are not searched (e.g. '{}'); to read their files "
        "too, give a pattern such as '{}' beside the folder",
        folder, setting, folders.size(), folders.front(), pattern);
  if (!others.empty()) {
    // Not an error (a README, a manifest beside the parts), but never silent: a part written
    // as .jsonl.xz or .txt would otherwise be left out without a word.
    std::sort(others.begin(), others.end());
    spdlog::warn(
        "folder '{}' ({}): {} file(s) not named *.jsonl, *.ndjson or *.json (or those .gz, .zst) "
        "are left out (e.g. '{}'); rename or list them to read them",
        folder, setting, others.size(), others.front());
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> files;
  for (const auto& name : names) files.push_back(joinPath(folder, name));
  return files;
}

// The regular files matching `pattern`, by name.
std::vector<std::string> patternFiles(const std::string& pattern, std::string_view setting) {
  glob_t found{};
  const int status = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &found);
  std::vector<std::string> files;
  for (size_t i = 0; status == 0 && i < found.gl_pathc; ++i) {
    struct stat info {};
    if (statPath(found.gl_pathv[i], info) && S_ISREG(info.st_mode))
      files.emplace_back(found.gl_pathv[i]);
  }
  ::globfree(&found);
  if (status != 0 && status != GLOB_NOMATCH)
    throw UserError(
        fmt::format("cannot expand the pattern '{}' ({}): {}", pattern, setting,
                    status == GLOB_NOSPACE ? "out of memory" : "a folder is unreadable"));
  if (files.empty())
    throw UserError(fmt::format(
        "the pattern '{}' ({}) matches no file: check the folder and the pattern (quote it, so "
        "that the shell passes it on unexpanded)",
        pattern, setting));
  // Byte order, not the locale's collation: every rank and every machine the same.
  std::sort(files.begin(), files.end());
  return files;
}

// The expanded files and what stat(2) said of each (nothing where it failed): one stat a file.
struct Expanded {
  std::vector<std::string> paths;
  std::vector<std::optional<struct stat>> stats;
};

Expanded expand(const std::vector<std::string>& entries, std::string_view setting) {
  if (entries.empty())
    throw UserError(fmt::format("{} lists no file: give a file, a folder or a pattern", setting));
  std::vector<std::string> files;
  for (const auto& entry : entries) {
    struct stat info {};
    const bool exists = statPath(entry, info);
    std::vector<std::string> found;
    if (exists && S_ISDIR(info.st_mode))
      found = folderFiles(entry, setting);
    else if (!exists && hasGlobCharacters(entry))
      found = patternFiles(entry, setting);
    else
      found = {entry};
    files.insert(files.end(), found.begin(), found.end());
  }
  // One file twice would be read twice: every case reviewed twice, its id a duplicate.
  Expanded expanded;
  std::map<std::pair<dev_t, ino_t>, const std::string*> seen;
  for (const auto& file : files) {
    struct stat info {};
    expanded.stats.push_back(statPath(file, info) ? std::optional(info) : std::nullopt);
    if (!expanded.stats.back()) continue;
    const auto [at, added] = seen.emplace(std::make_pair(info.st_dev, info.st_ino), &file);
    if (!added)
      throw UserError(fmt::format(
          "{} names one file twice ('{}' and '{}'): its lines would be read twice; list each "
          "file once",
          setting, *at->second, file));
  }
  expanded.paths = std::move(files);
  return expanded;
}

}  // namespace

std::vector<std::string> expandInputs(const std::vector<std::string>& entries,
                                      std::string_view setting) {
  return expand(entries, setting).paths;
}

int64_t InputListing::bytes() const {
  int64_t total = 0;
  for (const auto& stamp : stamps) total += stamp.bytes;
  return total;
}

InputListing listInputs(const std::vector<std::string>& entries, std::string_view setting) {
  Expanded expanded = expand(entries, setting);
  InputListing listing;
  listing.paths = std::move(expanded.paths);
  for (size_t i = 0; i < listing.paths.size(); ++i) {
    const std::string& path = listing.paths[i];
    if (const auto& info = expanded.stats[i]; info && S_ISREG(info->st_mode)) {
      listing.stamps.push_back(
          {static_cast<int64_t>(info->st_size),
           static_cast<int64_t>(info->st_mtim.tv_sec) * 1'000'000'000 + info->st_mtim.tv_nsec});
      continue;
    }
    try {
      listing.stamps.push_back(MappedFile(path).stamp());  // throws: missing, a pipe, a device
    } catch (const UserError& e) {
      throw UserError(fmt::format("{} ({})", e.what(), setting));
    }
  }
  return listing;
}

InputListing shareInputListing(Communicator& comm, const std::string& stage,
                               const std::vector<std::string>& entries, std::string_view setting) {
  InputListing listing;
  // The paths, each ended by a NUL (which no path holds; not JSON, which wants UTF-8 names),
  // and two numbers a file.
  std::string names;
  std::vector<int64_t> numbers;
  runAgreed(comm, stage, [&] {
    if (comm.rank() != 0) return;
    listing = listInputs(entries, setting);
    for (size_t i = 0; i < listing.paths.size(); ++i) {
      (names += listing.paths[i]) += '\0';
      numbers.push_back(listing.stamps[i].bytes);
      numbers.push_back(listing.stamps[i].modifiedNs);
    }
  });
  int64_t sizes[2] = {static_cast<int64_t>(names.size()), static_cast<int64_t>(numbers.size())};
  comm.broadcast(sizes, sizeof(sizes), 0);
  names.resize(static_cast<size_t>(sizes[0]));
  numbers.resize(static_cast<size_t>(sizes[1]));
  comm.broadcast(names.data(), names.size(), 0);
  comm.broadcast(numbers.data(), numbers.size() * sizeof(int64_t), 0);
  if (comm.rank() == 0) return listing;
  for (size_t at = 0, i = 0; at < names.size(); ++i) {
    const size_t end = names.find('\0', at);
    listing.paths.push_back(names.substr(at, end - at));
    listing.stamps.push_back({numbers[2 * i], numbers[2 * i + 1]});
    at = end + 1;
  }
  return listing;
}

std::string inputsText(const std::vector<std::string>& entries) {
  if (entries.size() == 1) return entries.front();
  return fmt::format("[{}]", fmt::join(entries, ", "));
}

}  // namespace eleanor
