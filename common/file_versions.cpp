#include "common/file_versions.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <span>

#include "common/process_identity.h"

namespace eleanor {
namespace {

std::string describe(const FileStamp& stamp) {
  const std::time_t seconds = static_cast<std::time_t>(stamp.modifiedNs / 1'000'000'000);
  return fmt::format("{} bytes, modified {:%Y-%m-%d %H:%M:%S}.{:09d} UTC", stamp.bytes,
                     fmt::gmtime(seconds), stamp.modifiedNs % 1'000'000'000);
}

// "rank 0 (host): v; rank r (host): v'..." for rank 0 and the first three of `differing`.
// Collective (a gather of host names): every rank calls it, having found the same ranks.
std::string describeRanks(Communicator& comm, const std::vector<int>& differing,
                          const std::function<std::string(int)>& valueOf) {
  const std::vector<std::string> hosts = allGatherStrings(comm, hostName());
  std::string seen = fmt::format("rank 0 ({}): {}", hosts[0], valueOf(0));
  constexpr size_t kRanksNamed = 3;
  for (size_t i = 0; i < differing.size() && i < kRanksNamed; ++i)
    seen +=
        fmt::format("; rank {} ({}): {}", differing[i], hosts[differing[i]], valueOf(differing[i]));
  if (differing.size() > kRanksNamed)
    seen += fmt::format("; {} more ranks differ from rank 0", differing.size() - kRanksNamed);
  return seen;
}

}  // namespace

std::optional<std::string> differingFileVersions(Communicator& comm,
                                                 const std::vector<StampedFile>& files) {
  // Rank 0's stamps to every rank, and the first file where any rank's size differs: a
  // broadcast of 16 bytes a file, not an all-gather of every rank's (an input of 100,000 part
  // files on 1,000 ranks would gather 1.6 GB into each rank).
  std::vector<int64_t> root;
  root.reserve(2 * files.size());
  for (const StampedFile& file : files) {
    root.push_back(file.stamp.bytes);
    root.push_back(file.stamp.modifiedNs);
  }
  if (!root.empty()) comm.broadcast(root.data(), root.size() * sizeof(int64_t), 0);
  int64_t first = static_cast<int64_t>(files.size());
  for (size_t f = 0; f < files.size(); ++f) {
    if (files[f].stamp.bytes != root[2 * f]) {
      first = static_cast<int64_t>(f);
      break;
    }
  }
  int64_t negated = -first;  // the least over the ranks, as the greatest of the negations
  comm.allReduceMax(std::span<int64_t>(&negated, 1));
  first = -negated;
  if (first == static_cast<int64_t>(files.size())) return std::nullopt;

  const size_t f = static_cast<size_t>(first);
  const int64_t mine[2] = {files[f].stamp.bytes, files[f].stamp.modifiedNs};
  std::vector<int64_t> all(2 * static_cast<size_t>(comm.size()));
  comm.allGather(mine, all.data(), sizeof(mine));
  const auto stampOf = [&](int rank) { return FileStamp{all[2 * rank], all[2 * rank + 1]}; };
  std::vector<int> differing;
  for (int r = 1; r < comm.size(); ++r)
    if (stampOf(r).bytes != stampOf(0).bytes) differing.push_back(r);
  const std::string seen =
      describeRanks(comm, differing, [&](int r) { return describe(stampOf(r)); });
  return fmt::format(
      "the ranks opened different versions of '{}' ({}): {}. It changed while the job "
      "started: it is still being written, or was replaced (or a node's filesystem cache is "
      "out of date); run again once it is complete and no longer changing",
      files[f].path, files[f].setting, seen);
}

std::optional<std::string> ranksThatDiffer(Communicator& comm, const std::string& mine) {
  const std::vector<std::string> values = allGatherStrings(comm, mine);
  std::vector<int> differing;
  for (int r = 1; r < comm.size(); ++r)
    if (values[r] != values[0]) differing.push_back(r);
  if (differing.empty()) return std::nullopt;
  return describeRanks(comm, differing, [&](int r) { return values[r]; });
}

std::optional<std::string> differingSettings(Communicator& comm, const std::string& hash,
                                             const std::string& configFile) {
  const auto seen = ranksThatDiffer(comm, hash);
  if (!seen) return std::nullopt;
  return fmt::format(
      "the ranks loaded different settings from '{}' and the files it names (hashes of the "
      "effective settings: {}): the config files differ between the ranks' nodes or changed "
      "while the job started, or the ranks were given different arguments. Give every rank "
      "the same files and arguments (rank 0 logs its effective settings at info level) and "
      "run again",
      configFile, *seen);
}

std::string differentModelsMessage(const std::string& seen) {
  return fmt::format(
      "the ranks loaded different models or rules ({}): the files differ between the ranks' "
      "nodes or changed while the job started, and the ranks would embed or judge alike cases "
      "differently. Give every rank the same files and run again",
      seen);
}

}  // namespace eleanor
