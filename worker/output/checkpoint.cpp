#include "worker/output/checkpoint.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "common/text_hash.h"

namespace eleanor {
namespace {

constexpr const char* kFile = "checkpoint.json";

std::string fileIdentity(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return "missing";
  const MappedFile file(path);
  const std::string_view head = file.view().substr(0, 1 << 20);
  return fmt::format("size {}, modified {}.{:09d}, first MiB xxh64 {}", info.st_size,
                     info.st_mtim.tv_sec, info.st_mtim.tv_nsec, hash64Hex(head));
}

}  // namespace

std::string inputIdentity(const InputListing& listing) {
  if (listing.paths.size() == 1) return fileIdentity(listing.paths.front());
  std::string identity;
  for (size_t i = 0; i < listing.paths.size(); ++i) {
    const FileStamp& stamp = listing.stamps[i];
    identity += fmt::format("{}'{}' size {}, modified {}.{:09d}", i == 0 ? "" : "\n",
                            listing.paths[i], stamp.bytes, stamp.modifiedNs / 1'000'000'000,
                            stamp.modifiedNs % 1'000'000'000);
  }
  return identity;
}

std::string resultSettingsHash(const JobConfig& config) {
  YAML::Node decisive;
  decisive["job"] = YAML::Clone(config.effective["job"]);
  decisive["job"].remove("output");
  decisive["job"].remove("batch_size");  // results do not depend on it
  decisive["job"].remove("checkpoint_interval_s");
  decisive["job"].remove("max_errors");
  decisive["job"].remove("check_memory");
  decisive["embedder"] = config.effective["embedder"];
  decisive["critics"] = config.effective["critics"];
  decisive["aggregate"] = config.effective["aggregate"];
  YAML::Emitter text;
  text << decisive;
  std::string all = text.c_str();
  all += "\nrules " + fileIdentity(config.critics.rules);
  for (const char* name : {"embeddings.npy", "meta.jsonl", "index.json"})
    all += fmt::format("\n{} {}", name, fileIdentity(config.job.precedents + "/" + name));
  return hash64Hex(all);
}

void writeCheckpoint(const std::string& stagingDir, const Checkpoint& c) {
  nlohmann::ordered_json json;
  json["version"] = 1;
  json["input"] = c.input;
  json["settings"] = c.settings;
  json["world_size"] = c.worldSize;
  json["rounds"] = c.rounds;
  json["lines_per_rank"] = c.linesPerRank;
  json["result_bytes"] = c.resultBytes;
  json["error_bytes"] = c.errorBytes;
  json["counts"] = {{"lines", c.lines},
                    {"results", c.results},
                    {"errors", c.errors},
                    {"blank_lines", c.blankLines}};
  json["decisions"] = c.decisions;
  writeFileAtomically(stagingDir + "/" + kFile, json.dump(2) + "\n");
}

bool hasCheckpoint(const std::string& stagingDir) {
  struct stat info {};
  return ::stat((stagingDir + "/" + kFile).c_str(), &info) == 0;
}

Checkpoint readCheckpoint(const std::string& stagingDir) {
  const std::string path = stagingDir + "/" + kFile;
  if (!hasCheckpoint(stagingDir))
    throw UserError(
        fmt::format("nothing to resume: '{}' has no checkpoint yet (the run was "
                    "stopped before its first commit); start without --resume",
                    stagingDir));
  const MappedFile file(path);
  try {
    const nlohmann::json json = nlohmann::json::parse(file.view());
    Checkpoint c;
    c.input = json.at("input");
    c.settings = json.at("settings");
    c.worldSize = json.at("world_size");
    c.rounds = json.at("rounds");
    c.linesPerRank = json.at("lines_per_rank").get<std::vector<int64_t>>();
    c.resultBytes = json.at("result_bytes").get<std::vector<int64_t>>();
    c.errorBytes = json.at("error_bytes").get<std::vector<int64_t>>();
    const auto& counts = json.at("counts");
    c.lines = counts.at("lines");
    c.results = counts.at("results");
    c.errors = counts.at("errors");
    c.blankLines = counts.at("blank_lines");
    c.decisions = json.at("decisions").get<std::map<std::string, int64_t>>();
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(
        fmt::format("checkpoint '{}' is damaged ({}): start without --resume", path, e.what()));
  }
}

bool decideResume(Communicator& comm, const ResumeOptions& options, const std::string& what,
                  const std::string& stagingDir, const std::function<bool()>& unfinishedOnRoot) {
  if (!options.resumeIfUnfinished) return options.resume;
  const bool root = comm.rank() == 0;
  int64_t found = root && unfinishedOnRoot() ? 1 : 0;
  comm.setStage("resume");
  comm.broadcast(&found, sizeof(found), 0);
  if (root && found)
    spdlog::info("--resume-if-unfinished: {} holds an unfinished {}: resuming it", stagingDir,
                 what);
  else if (root)
    spdlog::info("--resume-if-unfinished: no unfinished {} with a checkpoint in {}: starting one",
                 what, stagingDir);
  return found != 0;
}

namespace {
// "then: X; now: Y" for the first file whose identity differs (inputIdentity's lines), or the
// file counts where they differ: an input of thousands of files gives one line, not thousands.
std::string inputChange(const std::string& saved, const std::string& current) {
  const auto lines = [](const std::string& text) {
    std::vector<std::string_view> out;
    for (size_t at = 0; at <= text.size();) {
      const size_t end = std::min(text.find('\n', at), text.size());
      out.push_back(std::string_view(text).substr(at, end - at));
      at = end + 1;
    }
    return out;
  };
  const auto then = lines(saved);
  const auto now = lines(current);
  if (then.size() != now.size())
    return fmt::format("then {} file(s), now {}", then.size(), now.size());
  for (size_t i = 0; i < then.size(); ++i)
    if (then[i] != now[i]) return fmt::format("then: {}; now: {}", then[i], now[i]);
  return "";
}
}  // namespace

std::string resumeRefusal(const Checkpoint& saved, const Checkpoint& current) {
  if (saved.input != current.input)
    return fmt::format(
        "the input file changed since the run began ({}): resume only with the same job.input, "
        "or start without --resume",
        inputChange(saved.input, current.input));
  if (saved.settings != current.settings)
    return "the settings that decide the results changed since the run began (job, embedder, "
           "critics and their rules, aggregate, or the precedent corpus): resume with the same "
           "config and --set options, or start without --resume";
  if (saved.worldSize != current.worldSize)
    return fmt::format("the run began on {} ranks and this one has {}: resume on {} ranks",
                       saved.worldSize, current.worldSize, saved.worldSize);
  return "";
}

}  // namespace eleanor
