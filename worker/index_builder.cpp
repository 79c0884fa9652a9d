#include "worker/index_builder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/agreement.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/npy.h"
#include "worker/cases/case_parser.h"
#include "worker/cases/case_reader.h"
#include "worker/embed/make_embedder.h"
#include "worker/output/case_result.h"
#include "worker/retrieval/precedent_shard.h"

namespace eleanor {
namespace {

using Json = nlohmann::ordered_json;

struct PrecedentRecord {
  int64_t line = 0;
  std::string id;
  std::string text;
  std::string metaLine;  // the meta.jsonl line, with '\n'
};

// A precedent line, or the reason it is not one.
std::variant<PrecedentRecord, LineError> parsePrecedentLine(std::string_view line, int64_t number) {
  const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object())
    return LineError{number, "", "not a JSON object {\"id\", \"text\", \"decision\", ...}"};
  const auto field = [&](const char* name) -> const nlohmann::json* {
    const auto it = parsed.find(name);
    return it == parsed.end() || !it->is_string() ? nullptr : &*it;
  };
  const auto* id = field("id");
  if (!id) return LineError{number, "", "missing string field \"id\""};
  const auto* text = field("text");
  if (!text) return LineError{number, id->get<std::string>(), "missing string field \"text\""};
  const auto* decision = field("decision");
  const auto& names = decisionNames();
  if (!decision ||
      std::find(names.begin(), names.end(), decision->get<std::string>()) == names.end())
    return LineError{number, id->get<std::string>(),
                     fmt::format("field \"decision\" must be one of {}", fmt::join(names, ", "))};
  Json meta;
  meta["id"] = *id;
  meta["decision"] = *decision;
  Json severity = Json::object();
  const auto given = parsed.find("severity");
  if (given != parsed.end() && !given->is_null()) {
    if (!given->is_object())
      return LineError{number, id->get<std::string>(), "\"severity\" must be {critic: 0..3}"};
    for (const auto& [critic, value] : given->items()) {
      if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 3)
        return LineError{number, id->get<std::string>(),
                         fmt::format("severity of '{}' must be a number in 0..3", critic)};
      severity[critic] = value;
    }
  }
  meta["severity"] = std::move(severity);
  meta["text"] = *text;
  return PrecedentRecord{
      number, id->get<std::string>(), text->get<std::string>(),
      meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

void writeAt(const std::string& path, int64_t offset, const char* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) throw UserError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, offset);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      throw UserError(fmt::format("cannot write '{}': {}", path, std::strerror(saved)));
    }
    data += written;
    size -= static_cast<size_t>(written);
    offset += written;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw UserError(fmt::format("cannot flush '{}': {}", path, std::strerror(errno)));
}

void createSized(const std::string& path, int64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::ftruncate(fd, size) != 0)
    throw UserError(fmt::format("cannot create '{}': {}", path, std::strerror(errno)));
  ::close(fd);
}

}  // namespace

IndexSummary buildIndex(const JobConfig& config, const std::string& input,
                        const std::string& outputDir, Communicator& comm,
                        const DevicePlan& device) {
  const auto start = std::chrono::steady_clock::now();
  const bool root = comm.rank() == 0;
  std::unique_ptr<Embedder> embedder;
  std::unique_ptr<CaseReader> reader;
  runAgreed(comm, "setup", [&] {
    embedder = makeEmbedder(config, device);
    reader = std::make_unique<CaseReader>(input, comm.rank(), comm.size(), config.job.maxLineBytes);
    if (root) {
      std::error_code error;
      std::filesystem::create_directories(outputDir, error);
      if (error) throw UserError(fmt::format("cannot create '{}': {}", outputDir, error.message()));
    }
  });
  reader->numberLines(comm);

  std::vector<PrecedentRecord> records;
  std::vector<LineError> errors;
  Matrix embeddings;
  runAgreed(comm, "read/embed", [&] {
    while (auto line = reader->nextLine()) {
      if (isBlankLine(line->text)) continue;
      auto parsed = parsePrecedentLine(line->text, line->number);
      if (auto* e = std::get_if<LineError>(&parsed)) {
        errors.push_back(std::move(*e));
      } else {
        records.push_back(std::move(std::get<PrecedentRecord>(parsed)));
      }
    }
    embeddings = Matrix(static_cast<int64_t>(records.size()), embedder->dim());
    const int64_t batch = config.job.batchSize;
    for (int64_t b = 0; b < embeddings.rows; b += batch) {
      const int64_t e = std::min(embeddings.rows, b + batch);
      std::vector<std::string_view> texts;
      for (int64_t i = b; i < e; ++i) texts.push_back(records[i].text);
      const Matrix part = embedder->embed(texts);
      std::copy(part.values.begin(), part.values.end(), embeddings.row(b).begin());
    }
    // A precedent whose embedding is not finite goes to errors.jsonl (embedder.h).
    const auto toErrors = [&](const PrecedentRecord& r) {
      errors.push_back({r.line, r.id, nonFiniteEmbeddingReason(config.embedder.type)});
    };
    if (dropNonFiniteRows(embeddings, records, toErrors) > 0) sortByLine(errors);
  });

  // Where each rank's rows and meta bytes go.
  std::string metaText;
  for (const auto& r : records) metaText += r.metaLine;
  std::vector<int64_t> mine{embeddings.rows, static_cast<int64_t>(metaText.size())};
  std::vector<int64_t> all(2 * comm.size());
  comm.setStage("plan");
  comm.allGather(mine.data(), all.data(), 2 * sizeof(int64_t));
  int64_t totalRows = 0, rowOffset = 0, metaOffset = 0, metaBytes = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (r < comm.rank()) {
      rowOffset += all[2 * r];
      metaOffset += all[2 * r + 1];
    }
    totalRows += all[2 * r];
    metaBytes += all[2 * r + 1];
  }
  const int64_t dim = embedder->dim();
  const std::string header = npyHeaderBytes(totalRows, dim);
  const std::string npyTemp = outputDir + "/embeddings.npy.tmp";
  const std::string metaTemp = outputDir + "/meta.jsonl.tmp";

  runAgreed(comm, "create", [&] {
    if (!root) return;
    createSized(npyTemp, static_cast<int64_t>(header.size()) + totalRows * dim * 4);
    writeAt(npyTemp, 0, header.data(), header.size());
    createSized(metaTemp, metaBytes);
  });
  runAgreed(comm, "write", [&] {
    writeAt(npyTemp, static_cast<int64_t>(header.size()) + rowOffset * dim * 4,
            reinterpret_cast<const char*>(embeddings.values.data()),
            embeddings.values.size() * sizeof(float));
    writeAt(metaTemp, metaOffset, metaText.data(), metaText.size());
  });

  std::vector<std::string> errorLines;
  for (const auto& e : errors) errorLines.push_back(formatErrorLine(e.line, e.id, e.reason) + "\n");
  std::string errorText;
  for (const auto& l : errorLines) errorText += l;
  std::vector<std::byte> gathered;
  std::vector<size_t> counts;
  comm.setStage("gather-errors");
  comm.gatherV(errorText.data(), errorText.size(), 0, gathered, counts);

  IndexSummary summary;
  summary.rows = totalRows;
  summary.dim = dim;
  summary.errors = allGatherScalarSum<int64_t>(comm, static_cast<int64_t>(errors.size()));
  runAgreed(comm, "commit", [&] {
    if (!root) return;
    renameFile(npyTemp, outputDir + "/embeddings.npy");
    renameFile(metaTemp, outputDir + "/meta.jsonl");
    writeFileAtomically(
        outputDir + "/errors.jsonl",
        std::string_view(reinterpret_cast<const char*>(gathered.data()), gathered.size()));
    Json manifest;
    manifest["embedder"] = embedder->signature();
    manifest["rows"] = totalRows;
    manifest["dim"] = dim;
    manifest["source"] = input;
    manifest["errors"] = summary.errors;
    manifest["config_hash"] = config.hash;
    writeFileAtomically(outputDir + "/index.json", manifest.dump(2) + "\n");
  });
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace eleanor
