#include "common/file_versions.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <functional>

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
  const size_t fields = 2 * files.size();
  std::vector<int64_t> mine;
  mine.reserve(fields);
  for (const StampedFile& file : files) {
    mine.push_back(file.stamp.bytes);
    mine.push_back(file.stamp.modifiedNs);
  }
  std::vector<int64_t> all(fields * comm.size());
  if (fields > 0) comm.allGather(mine.data(), all.data(), fields * sizeof(int64_t));
  auto stampOf = [&](int rank, size_t file) {
    return FileStamp{all[rank * fields + 2 * file], all[rank * fields + 2 * file + 1]};
  };
  for (size_t f = 0; f < files.size(); ++f) {
    std::vector<int> differing;
    for (int r = 1; r < comm.size(); ++r)
      if (stampOf(r, f).bytes != stampOf(0, f).bytes) differing.push_back(r);
    if (differing.empty()) continue;
    const std::string seen =
        describeRanks(comm, differing, [&](int r) { return describe(stampOf(r, f)); });
    return fmt::format(
        "the ranks opened different versions of '{}' ({}): {}. It changed while the job "
        "started: it is still being written, or was replaced (or a node's filesystem cache is "
        "out of date); run again once it is complete and no longer changing",
        files[f].path, files[f].setting, seen);
  }
  return std::nullopt;
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
