#include "worker/preflight.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/error.h"
#include "common/host_memory.h"
#include "common/mapped_file.h"
#include "common/npy.h"
#include "common/partition.h"
#include "common/process_identity.h"
#include "worker/cases/compressed_input.h"
#include "worker/cases/input_files.h"
#include "worker/critics/critic_rules.h"
#include "worker/embed/hashing_embedder.h"
#include "worker/output/checkpoint.h"
#include "worker/output/disk_room.h"
#include "worker/output/folder_lock.h"
#include "worker/output/output_paths.h"
#include "worker/output/result_spool.h"
#include "worker/retrieval/shard_memory.h"

namespace eleanor {
namespace {

// `files`: the input's files, for checkOutput (none where they cannot be listed).
PreflightRow checkInput(const JobConfig& config, std::vector<std::string>& files) {
  try {
    files = expandInputs(config.job.input, "job.input");
  } catch (const UserError& e) {
    return {"input", fmt::format("PROBLEM: {}", e.what()), true};
  }
  try {
    int64_t bytes = 0;
    int64_t compressed = 0;
    int64_t entered = 0;  // compressed files a rank enters near its part
    for (const auto& path : files) {
      const MappedFile file(path);
      if (auto reason = jsonLinesFileProblem(path, file.view()))
        return {"input", "PROBLEM: " + *reason + " (job.input)", true};
      bytes += static_cast<int64_t>(file.size());
      const Compression kind = compressionOf(path);
      if (kind == Compression::none) continue;
      ++compressed;
      entered += hasEntryPoints(file.view(), kind) ? 1 : 0;
    }
    std::string what =
        compressed == 0 ? "bytes of JSON lines"
        : compressed == static_cast<int64_t>(files.size())
            ? "bytes of compressed JSON lines"
            : fmt::format("bytes of JSON lines, {} of the files compressed", compressed);
    // Reading a compressed file whole would take as long as the job's start-up does.
    if (compressed > 0)
      what += fmt::format(
          " ({}; the first 64 KiB of each compressed file checked here, all of it at start-up)",
          entered == compressed
              ? "in blocks, as bgzip and pzstd write: each rank decompresses from the block "
                "before its part"
          : entered > 0
              ? fmt::format("{} in blocks, as bgzip and pzstd write; the others one stream each, "
                            "which each rank reading part of it decompresses from its start",
                            entered)
              : "one stream each, which each rank reading part of it decompresses from its start: "
                "bgzip and pzstd write blocks that ranks start at");
    if (files.size() == 1) return {"input", fmt::format("{}: {} {}", files.front(), bytes, what)};
    return {"input",
            fmt::format("{}: {} files ('{}' ... '{}'), {} {}", inputsText(config.job.input),
                        files.size(), files.front(), files.back(), bytes, what)};
  } catch (const UserError& e) {
    return {"input", fmt::format("PROBLEM: {} (job.input)", e.what()), true};
  }
}

// The embedder named in the corpus's index.json, "" where it names none.
std::string corpusEmbedder(const std::string& folder) {
  const std::string path = folder + "/index.json";
  if (!std::filesystem::exists(path)) return "";
  const MappedFile file(path);
  const auto manifest = nlohmann::json::parse(file.view(), nullptr, false);
  if (!manifest.is_object() || !manifest.contains("embedder") || !manifest["embedder"].is_string())
    return "";
  return manifest["embedder"].get<std::string>();
}

PreflightRow checkCorpus(const JobConfig& config) {
  const std::string& folder = config.job.precedents;
  if (!std::filesystem::is_directory(folder))
    return {"corpus",
            fmt::format("PROBLEM: '{}' is not a folder (job.precedents): build the corpus with "
                        "`eleanor-worker index --input PRECEDENTS.jsonl --out {}`",
                        folder, folder),
            true};
  try {
    const NpyMatrix matrix(folder + "/embeddings.npy");
    if (matrix.cols() != config.embedder.dim)
      return {"corpus",
              fmt::format("PROBLEM: '{}/embeddings.npy' has dimension {} but embedder.dim is {}: "
                          "rebuild the corpus with this embedder or set embedder.dim: {}",
                          folder, matrix.cols(), config.embedder.dim, matrix.cols()),
              true};
    const MappedFile meta(folder + "/meta.jsonl");
    const std::string_view text = meta.view();
    const int64_t lines = countNewlines(text) + (!text.empty() && text.back() != '\n' ? 1 : 0);
    if (lines != matrix.rows())
      return {"corpus",
              fmt::format("PROBLEM: '{}/meta.jsonl' has {} lines for {} rows of embeddings: "
                          "rebuild the corpus with `eleanor-worker index`",
                          folder, lines, matrix.rows()),
              true};
    const std::string builtWith = corpusEmbedder(folder);
    // Only the built-in embedder's signature is known without loading a model.
    if (config.embedder.type == "hashing" && !builtWith.empty()) {
      const std::string mine =
          HashingEmbedder(config.embedder.dim, static_cast<uint64_t>(config.embedder.seed),
                          config.embedder.bigrams)
              .signature();
      if (builtWith != mine)
        return {"corpus",
                fmt::format("PROBLEM: '{}' was embedded with '{}' but this config embeds with "
                            "'{}': rebuild it with `eleanor-worker index` using this config",
                            folder, builtWith, mine),
                true};
    }
    // The largest shard of this world, against this host's memory (rank 0's host: doctor's
    // host check does the others', host_check.h).
    const ProcessIdentity& id = processIdentity();
    const ShardPlacement largest = largestShard(matrix.rows(), matrix.cols(),
                                                knownCriticNames().size(), id.size, id.localSize);
    if (config.job.checkMemory)
      if (auto problem = shardMemoryProblem(folder + "/embeddings.npy", largest, hostMemory()))
        return {"corpus", "PROBLEM: " + *problem, true};
    return {"corpus",
            fmt::format("{}: {} precedents x {} dims, embedded with '{}'; each of {} rank(s) "
                        "holds up to {} of it{}",
                        folder, matrix.rows(), matrix.cols(),
                        builtWith.empty() ? "(index.json names none)" : builtWith, id.size,
                        byteSizeText(shardHostBytes(largest.rows, largest.dim, largest.critics)),
                        config.job.checkMemory ? "" : " (job.check_memory: false: not checked)")};
  } catch (const UserError& e) {
    return {"corpus", fmt::format("PROBLEM: {} (job.precedents)", e.what()), true};
  }
}

PreflightRow checkOutput(const JobConfig& config, const std::vector<std::string>& inputFiles) {
  const std::string& folder = config.job.output;
  try {
    checkRunOutputFolder(inputFiles, config.job.precedents, folder);
  } catch (const UserError& e) {
    return {"output", "PROBLEM: " + std::string(e.what()), true};
  }
  // The free space of the file system the folder is (or will be) on.
  std::filesystem::path existing = std::filesystem::absolute(folder);
  while (!std::filesystem::exists(existing) && existing.has_parent_path() &&
         existing != existing.parent_path())
    existing = existing.parent_path();
  const int64_t freeBytes = fileSystemFreeBytes(existing.string());
  const std::string room =
      freeBytes < 0 ? "" : fmt::format("; {} free on its file system", byteSizeText(freeBytes));
  if (!std::filesystem::exists(folder))
    return {"output", fmt::format("{}: will be created{}", folder, room)};
  if (!std::filesystem::is_directory(folder))
    return {"output", fmt::format("PROBLEM: '{}' is not a folder (job.output)", folder), true};
  if (::access(folder.c_str(), W_OK) != 0)
    return {
        "output",
        fmt::format("PROBLEM: cannot write in '{}' (job.output): {}", folder, std::strerror(errno)),
        true};
  if (auto holder = FolderLock::holderOf(folder))
    return {"output",
            fmt::format("PROBLEM: '{}' is in use by another job ({}): wait for it to end or "
                        "give job.output another folder",
                        folder, *holder),
            true};
  if (hasCheckpoint(stagingDirOf(folder)))
    return {"output", fmt::format("{}: holds an unfinished run with a checkpoint: `run --resume` "
                                  "continues it, a run without --resume starts over{}",
                                  folder, room)};
  return {"output", fmt::format("{}: exists, no job in it{}", folder, room)};
}

}  // namespace

std::vector<PreflightRow> preflightJobFiles(const JobConfig& config) {
  std::vector<std::string> inputFiles;
  PreflightRow input = checkInput(config, inputFiles);
  return {std::move(input), checkCorpus(config), checkOutput(config, inputFiles)};
}

}  // namespace eleanor
