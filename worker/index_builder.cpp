#include "worker/index_builder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/agreement.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/file_versions.h"
#include "common/npy.h"
#include "common/stop_request.h"
#include "common/text_hash.h"
#include "worker/cases/case_parser.h"
#include "worker/cases/case_reader.h"
#include "worker/cases/precedent_parser.h"
#include "worker/critics/critic_rules.h"
#include "worker/embed/make_embedder.h"
#include "worker/index_staging.h"
#include "worker/output/case_result.h"
#include "worker/output/disk_room.h"
#include "worker/output/folder_lock.h"
#include "worker/output/output_paths.h"
#include "worker/progress.h"

namespace eleanor {
namespace {

using Json = nlohmann::ordered_json;

void createSized(const std::string& path, int64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::ftruncate(fd, size) != 0) {
    const int saved = errno;
    if (fd >= 0) ::close(fd);
    throw UserError(fmt::format("cannot create '{}': {}", path, std::strerror(saved)));
  }
  ::close(fd);
}

// What the output depends on besides the input: the embedder as it computes (its signature, and
// its device and dtype, which change the bits a model gives) and which lines are too long.
std::string indexSettingsHash(const JobConfig& config, const Embedder& embedder,
                              const DevicePlan& device) {
  return hash64Hex(fmt::format("{}\ndevice {}\nmax_line_bytes {}", embedder.signature(),
                               device.choice.cuda ? "cuda " + device.dtype : "cpu",
                               config.job.maxLineBytes));
}

// A build: every rank reads its byte range of the input in rounds of job.batch_size lines,
// embeds them and appends them to its own staging files (index_staging.h); the ranks agree after
// each round whether any has lines left or was asked to stop. The finished files are copied
// into the corpus at each rank's offsets.
class IndexBuild {
 public:
  IndexBuild(const JobConfig& config, std::vector<std::string> inputs, std::string outputDir,
             Communicator& comm, const DevicePlan& device, const ResumeOptions& options)
      : config_(config),
        inputs_(std::move(inputs)),
        outputDir_(std::move(outputDir)),
        staging_(indexStagingDirOf(outputDir_)),
        comm_(comm),
        device_(device),
        options_(options),
        root_(comm.rank() == 0) {
    // The fault drills' aid (as in run): slow every round so a test can stop the build mid-way.
    if (const char* delay = std::getenv("ELEANOR_FAULT_ROUND_DELAY_MS"))
      roundDelay_ = std::chrono::milliseconds(std::atol(delay));
  }

  IndexSummary run();

 private:
  void setUp();
  bool round();  // false once no rank has lines left
  // Collective: commits every rank's staging and throws JobStopped on every rank.
  [[noreturn]] void stop(int signal);
  void finish();  // collective: the corpus files from the staging
  // Runs a write to the output folder; a failure (a full disk, a quota) says what to do.
  void staged(const std::function<void()>& write) const;
  void maybeCommit();
  // Rank 0, with every rank's `staged` bytes: warns once when --out's file system cannot hold
  // the rest of the build and the corpus copied out of it (disk_room.h).
  void warnIfNoRoom(int64_t staged);
  // Once per rank: a severity key that names no critic is most likely misspelt.
  void warnUnknownCritic(const PrecedentRecord& record);

  const JobConfig& config_;
  const std::vector<std::string> inputs_;
  const std::string outputDir_;
  const std::string staging_;
  Communicator& comm_;
  const DevicePlan& device_;
  const ResumeOptions options_;
  const bool root_;
  std::chrono::milliseconds roundDelay_{0};
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastCommit_ = start_;
  bool diskRoomWarned_ = false;  // rank 0: once a build is enough

  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<CaseReader> reader_;
  std::unique_ptr<FolderLock> outputLock_;  // rank 0: held until the corpus is in place
  std::unique_ptr<IndexSpool> spool_;
  std::unique_ptr<Progress> progress_;
  IndexSummary summary_;
  int64_t linesDone_ = 0;  // every rank's, as of the last round
  bool warnedUnknownCritic_ = false;
};

void IndexBuild::warnUnknownCritic(const PrecedentRecord& record) {
  if (record.unknownCritic.empty() || warnedUnknownCritic_) return;
  warnedUnknownCritic_ = true;
  const InputLines::Place at = reader_->lineNames().locate(record.line);
  spdlog::warn(
      "{}:{}: precedent '{}' gives a severity for '{}', which is none of ELEANOR's critics ({}): "
      "a job ignores it; check the spelling (indexed as given; this rank says so once)",
      *at.path, at.line, record.id, record.unknownCritic, fmt::join(knownCriticNames(), ", "));
}

void IndexBuild::staged(const std::function<void()>& write) const {
  try {
    write();
  } catch (const UserError& e) {
    throw UserError(
        fmt::format("{}: make room in {} and run the same command with --resume to go "
                    "on from what each rank committed",
                    e.what(), outputDir_));
  }
}

void IndexBuild::setUp() {
  const InputListing listing = shareInputListing(comm_, "setup", inputs_, "--input");
  runAgreed(comm_, "setup", [&] {
    reader_ = std::make_unique<CaseReader>(listing, "--input", comm_.rank(), comm_.size(),
                                           config_.job.maxLineBytes);
    embedder_ = makeEmbedder(config_, device_);
    if (root_) {
      checkIndexOutputFolder(reader_->paths(), outputDir_);
      outputLock_ = std::make_unique<FolderLock>(outputDir_, "--out");
    }
  });
  // The input's files were checked against rank 0's listing as each rank opened its own.
  const auto differingModels = ranksThatDiffer(comm_, "embedder " + embedder_->signature());
  runAgreed(comm_, "setup", [&] {
    if (differingModels) throw UserError(differentModelsMessage(*differingModels));
  });
  const bool resume = decideResume(comm_, options_, "index build", staging_,
                                   [&] { return hasIndexStaging(staging_); });
  runAgreed(comm_, resume ? "resume" : "staging", [&] {
    if (!root_) return;
    const IndexBuildIdentity current{inputIdentity(reader_->listing()),
                                     indexSettingsHash(config_, *embedder_, device_), comm_.size()};
    if (!resume) {
      try {
        return startIndexStaging(staging_, current);
      } catch (const UserError& e) {
        throw UserError(fmt::format("{}: make room in {} and run the same command again", e.what(),
                                    outputDir_));
      }
    }
    const std::string refusal = indexResumeRefusal(readIndexBuildIdentity(staging_), current);
    if (!refusal.empty())
      throw UserError("cannot resume the index build in " + outputDir_ + ": " + refusal);
  });
  runAgreed(comm_, "staging", [&] {
    spool_ = std::make_unique<IndexSpool>(staging_, comm_.rank(), embedder_->dim(), resume);
  });
  reader_->numberLines(comm_);
  reader_->skip(spool_->progress().lines);
  summary_.resumedLines = allGatherScalarSum<int64_t>(comm_, spool_->progress().lines);
  linesDone_ = summary_.resumedLines;
  if (root_) {
    if (resume)
      spdlog::info("resuming the index build: {} of {} lines already done", summary_.resumedLines,
                   reader_->totalLines());
    progress_ = std::make_unique<Progress>(reader_->totalLines(), config_.logging.progressIntervalS,
                                           summary_.resumedLines, "precedents");
  }
}

void IndexBuild::maybeCommit() {
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - lastCommit_).count() < config_.job.checkpointIntervalS)
    return;
  lastCommit_ = now;
  spool_->commit();
}

bool IndexBuild::round() {
  if (roundDelay_.count() > 0) std::this_thread::sleep_for(roundDelay_);
  int64_t lines = 0;
  std::vector<PrecedentRecord> records;
  std::vector<LineError> errors;
  Matrix embeddings;
  runAgreed(comm_, "read/embed", [&] {
    while (lines < config_.job.batchSize) {
      const auto line = reader_->nextLine();
      if (!line) break;
      ++lines;
      if (auto error = reader_->overLong(*line, "precedents")) {
        errors.push_back(std::move(*error));
        continue;
      }
      if (isBlankLine(line->text)) continue;
      auto parsed = parsePrecedentLine(line->text, line->number);
      if (auto* e = std::get_if<LineError>(&parsed)) {
        errors.push_back(std::move(*e));
      } else {
        records.push_back(std::move(std::get<PrecedentRecord>(parsed)));
        warnUnknownCritic(records.back());
      }
    }
    std::vector<std::string_view> texts;
    for (const auto& r : records) texts.push_back(r.text);
    embeddings = texts.empty() ? Matrix(0, embedder_->dim()) : embedder_->embed(texts);
    // A precedent whose embedding is not finite goes to errors.jsonl (embedder.h).
    const auto toErrors = [&](const PrecedentRecord& r) {
      errors.push_back({r.line, r.id, nonFiniteEmbeddingReason(config_.embedder.type)});
    };
    if (dropNonFiniteRows(embeddings, records, toErrors) > 0) sortByLine(errors);
  });
  runAgreed(comm_, "write", [&] {
    std::string meta, errorText;
    for (const auto& r : records) meta += r.metaLine;
    for (const auto& e : errors)
      errorText += formatErrorLine(e.line, e.id, e.reason, reader_->lineNames()) + "\n";
    staged([&] {
      spool_->append(lines, embeddings.values, meta, errorText,
                     static_cast<int64_t>(errors.size()));
      maybeCommit();
    });
  });
  // Whether any rank had lines, and the signal of any rank asked to stop (0: none); then every
  // rank's lines done, for the progress line and the stop's message.
  std::array<int64_t, 2> agreed{lines > 0 ? 1 : 0, stopRequestSignal()};
  comm_.setStage("agree");
  comm_.allReduceMax(agreed);
  std::array<int64_t, 2> done{spool_->progress().lines, spool_->stagedBytes()};
  comm_.allReduceSum(done);
  linesDone_ = done[0];
  if (root_) {
    progress_->update(linesDone_);
    warnIfNoRoom(done[1]);
  }
  if (agreed[0] == 0) return false;
  if (agreed[1] != 0) stop(static_cast<int>(agreed[1]));
  return true;
}

void IndexBuild::warnIfNoRoom(int64_t staged) {
  if (diskRoomWarned_) return;
  if (auto warning = diskRoomWarning(
          {outputDir_, "--out", "embeddings.npy, meta.jsonl and errors.jsonl"},
          {staged, linesDone_, reader_->totalLines()}, fileSystemFreeBytes(outputDir_))) {
    spdlog::warn("{}", *warning);
    diskRoomWarned_ = true;
  }
}

void IndexBuild::stop(int signal) {
  runAgreed(comm_, "stop", [&] { staged([&] { spool_->commit(); }); });
  std::string message;
  if (root_)
    message = fmt::format(
        "stopped on {}: {} of {} lines of {} are indexed and committed in {}; run the same "
        "command with --resume to finish the index",
        signalName(signal), linesDone_, reader_->totalLines(), inputsText(inputs_), staging_);
  throw JobStopped(message, kStoppedExitCode);
}

void IndexBuild::finish() {
  // Committed first, so that a failed copy below (a full disk) resumes with only the copy to do.
  runAgreed(comm_, "write", [&] { staged([&] { spool_->commit(); }); });
  const IndexRankProgress& mine = spool_->progress();
  std::vector<int64_t> sizes{mine.rows, mine.metaBytes};
  std::vector<int64_t> all(2 * comm_.size());
  comm_.setStage("plan");
  comm_.allGather(sizes.data(), all.data(), 2 * sizeof(int64_t));
  int64_t totalRows = 0, rowOffset = 0, metaOffset = 0, metaBytes = 0;
  for (int r = 0; r < comm_.size(); ++r) {
    if (r < comm_.rank()) {
      rowOffset += all[2 * r];
      metaOffset += all[2 * r + 1];
    }
    totalRows += all[2 * r];
    metaBytes += all[2 * r + 1];
  }
  const int64_t dim = embedder_->dim();
  const std::string header = npyHeaderBytes(totalRows, dim);
  const std::string npyTemp = outputDir_ + "/embeddings.npy.tmp";
  const std::string metaTemp = outputDir_ + "/meta.jsonl.tmp";
  try {
    runAgreed(comm_, "create", [&] {
      if (!root_) return;
      staged([&] {
        createSized(npyTemp, static_cast<int64_t>(header.size()) + totalRows * dim * 4);
        createSized(metaTemp, metaBytes);
        const int fd = ::open(npyTemp.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0)
          throw UserError(fmt::format("cannot open '{}': {}", npyTemp, std::strerror(errno)));
        writeAll(fd, header.data(), header.size(), npyTemp);
        syncAndClose(fd, npyTemp);
      });
    });
    runAgreed(comm_, "write", [&] {
      staged([&] {
        spool_->copyInto("rows", npyTemp,
                         static_cast<int64_t>(header.size()) + rowOffset * dim * 4);
        spool_->copyInto("meta", metaTemp, metaOffset);
      });
    });
  } catch (const JobFailure&) {
    if (root_) {  // a full disk keeps no half-written corpus
      ::unlink(npyTemp.c_str());
      ::unlink(metaTemp.c_str());
    }
    throw;
  }

  std::string errorText;
  runAgreed(comm_, "gather-errors", [&] { errorText = spool_->read("errors"); });
  std::vector<std::byte> gathered;
  std::vector<size_t> counts;
  comm_.setStage("gather-errors");
  comm_.gatherV(errorText.data(), errorText.size(), 0, gathered, counts);

  summary_.rows = totalRows;
  summary_.dim = dim;
  summary_.errors = allGatherScalarSum<int64_t>(comm_, mine.errors);
  runAgreed(comm_, "commit", [&] {
    if (!root_) return;
    staged([&] {
      renameFile(npyTemp, outputDir_ + "/embeddings.npy");
      renameFile(metaTemp, outputDir_ + "/meta.jsonl");
      writeFileAtomically(
          outputDir_ + "/errors.jsonl",
          std::string_view(reinterpret_cast<const char*>(gathered.data()), gathered.size()));
      Json manifest;
      manifest["embedder"] = embedder_->signature();
      manifest["rows"] = totalRows;
      manifest["dim"] = dim;
      manifest["source"] = inputs_.size() == 1 ? Json(inputs_.front()) : Json(inputs_);
      manifest["errors"] = summary_.errors;
      manifest["config_hash"] = config_.hash;
      writeFileAtomically(outputDir_ + "/index.json", manifest.dump(2) + "\n");
    });
    removeFilesIn(staging_);
    ::rmdir(staging_.c_str());
  });
  if (root_) progress_->finish(linesDone_);
}

IndexSummary IndexBuild::run() {
  installStopRequest();
  setUp();
  while (round()) {
  }
  finish();
  summary_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return summary_;
}

}  // namespace

IndexSummary buildIndex(const JobConfig& config, const std::vector<std::string>& inputs,
                        const std::string& outputDir, Communicator& comm, const DevicePlan& device,
                        const ResumeOptions& options) {
  IndexBuild build(config, inputs, outputDir, comm, device, options);
  return build.run();
}

}  // namespace eleanor
