#include "worker/retrieval/precedent_shard.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/line_reader.h"
#include "common/mapped_file.h"
#include "common/npy.h"
#include "worker/retrieval/shard_memory.h"

namespace eleanor {

const std::vector<std::string>& decisionNames() {
  static const std::vector<std::string> names{"allow", "constrained_allow", "escalate", "deny"};
  return names;
}

namespace {

PrecedentMeta parseMetaLine(std::string_view text, const std::string& path, int64_t lineNumber,
                            const std::vector<std::string>& criticNames) {
  const auto fail = [&](const std::string& problem) -> UserError {
    return UserError(fmt::format("{}:{}: {}", path, lineNumber, problem));
  };
  const nlohmann::json line = nlohmann::json::parse(text, nullptr, false);
  if (line.is_discarded() || !line.is_object())
    throw fail("not a JSON object; each line must be {\"id\", \"decision\", \"severity\"}");
  PrecedentMeta meta;
  const auto id = line.find("id");
  if (id == line.end() || !id->is_string()) throw fail("missing string field \"id\"");
  meta.id = id->get<std::string>();
  const auto decision = line.find("decision");
  if (decision == line.end() || !decision->is_string())
    throw fail("missing string field \"decision\"");
  meta.decision = decision->get<std::string>();
  const auto& names = decisionNames();
  if (std::find(names.begin(), names.end(), meta.decision) == names.end())
    throw fail(
        fmt::format("decision '{}' is not one of {}", meta.decision, fmt::join(names, ", ")));
  meta.severity.assign(criticNames.size(), -1.0);
  const auto severity = line.find("severity");
  if (severity != line.end() && !severity->is_null()) {
    if (!severity->is_object()) throw fail("\"severity\" must be an object {critic: 0..3}");
    for (const auto& [critic, value] : severity->items()) {
      const auto at = std::find(criticNames.begin(), criticNames.end(), critic);
      if (at == criticNames.end()) continue;  // a critic this job does not run
      if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 3)
        throw fail(fmt::format("severity of '{}' must be a number in 0..3", critic));
      meta.severity[at - criticNames.begin()] = value.get<double>();
    }
  }
  return meta;
}

void checkIndexManifest(const std::string& folder, const std::string& embedderSignature) {
  const std::string path = folder + "/index.json";
  if (!std::filesystem::exists(path)) return;
  const MappedFile file(path);
  const nlohmann::json manifest = nlohmann::json::parse(file.view(), nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object())
    throw UserError(
        fmt::format("{}: not valid JSON; rebuild the corpus with `eleanor-worker "
                    "index` or delete the file",
                    path));
  const auto built = manifest.find("embedder");
  if (built != manifest.end() && built->is_string() && *built != embedderSignature) {
    throw UserError(fmt::format(
        "precedent corpus '{}' was embedded with '{}' but this job embeds with '{}': the "
        "similarities would be meaningless. Rebuild it with `eleanor-worker index` using this "
        "config, or change the embedder settings to match",
        folder, built->get<std::string>(), embedderSignature));
  }
}

}  // namespace

PrecedentShard loadPrecedentShard(const std::string& folder, int rank, int size,
                                  int64_t expectedDim, const std::string& embedderSignature,
                                  const std::vector<std::string>& criticNames,
                                  const HostMemory& memory, int localRanks) {
  if (!std::filesystem::is_directory(folder))
    throw UserError(
        fmt::format("precedent corpus '{}' is not a folder (job.precedents); build "
                    "one with `eleanor-worker index`",
                    folder));
  const std::string npyPath = folder + "/embeddings.npy";
  const NpyMatrix matrix(npyPath);
  if (matrix.cols() != expectedDim) {
    throw UserError(fmt::format(
        "'{}' has dimension {} but the embedder produces {} (embedder.dim): rebuild the corpus "
        "with this embedder (`eleanor-worker index`) or set embedder.dim to {}",
        npyPath, matrix.cols(), expectedDim, matrix.cols()));
  }
  checkIndexManifest(folder, embedderSignature);

  PrecedentShard shard;
  shard.totalRows = matrix.rows();
  shard.files.push_back({npyPath, "job.precedents", matrix.stamp()});
  shard.dim = matrix.cols();
  shard.rows = evenSplit(matrix.rows(), size, rank);
  if (auto problem = shardMemoryProblem(
          npyPath,
          {shard.rows.size(), matrix.rows(), matrix.cols(), criticNames.size(), size, localRanks},
          memory))
    throw UserError(*problem);
  shard.embeddings = matrix.readRows(shard.rows);
  // A NaN or infinity would rank arbitrarily against every query: refuse it by name.
  const auto& values = shard.embeddings.values;
  const auto bad =
      std::find_if_not(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
  if (bad != values.end()) {
    const int64_t at = bad - values.begin();
    throw UserError(fmt::format(
        "'{}' row {} (line {} of '{}') holds {} in column {}: every embedding value must "
        "be finite; rebuild the corpus with `eleanor-worker index`",
        npyPath, shard.rows.begin + at / shard.dim, shard.rows.begin + at / shard.dim + 1,
        folder + "/meta.jsonl", *bad, at % shard.dim));
  }

  const std::string metaPath = folder + "/meta.jsonl";
  const MappedFile metaFile(metaPath);
  shard.files.push_back({metaPath, "job.precedents", metaFile.stamp()});
  const std::string_view text = metaFile.view();
  const int64_t lines = countNewlines(text) + (!text.empty() && text.back() != '\n' ? 1 : 0);
  if (lines != matrix.rows()) {
    throw UserError(
        fmt::format("'{}' has {} lines but '{}' has {} rows: they must match row for "
                    "line; rebuild the corpus with `eleanor-worker index`",
                    metaPath, lines, npyPath, matrix.rows()));
  }
  // Skip to our first line, then parse only our lines.
  int64_t offset = 0;
  for (int64_t skipped = 0; skipped < shard.rows.begin; ++skipped)
    offset = static_cast<int64_t>(text.find('\n', offset)) + 1;
  LineReader reader(text, {offset, static_cast<int64_t>(text.size())}, shard.rows.begin + 1);
  shard.meta.reserve(shard.rows.size());
  for (int64_t i = 0; i < shard.rows.size(); ++i) {
    const auto line = reader.next();
    shard.meta.push_back(parseMetaLine(line->text, metaPath, line->number, criticNames));
  }
  return shard;
}

}  // namespace eleanor
