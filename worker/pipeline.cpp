#include "worker/pipeline.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/agreement.h"
#include "common/crash_report.h"
#include "common/device_info.h"
#include "common/file_versions.h"
#include "common/host_memory.h"
#include "common/partition.h"
#include "common/process_identity.h"
#include "common/stop_request.h"
#include "common/text_hash.h"
#include "worker/cases/case_reader.h"
#include "worker/cases/duplicate_ids.h"
#include "worker/cases/input_files.h"
#include "worker/critics/critic_rules.h"
#include "worker/critics/model_critics.h"
#include "worker/critics/rule_critics.h"
#include "worker/embed/make_embedder.h"
#include "worker/output/case_result.h"
#include "worker/output/checkpoint.h"
#include "worker/output/chrome_trace.h"
#include "worker/output/decided_round.h"
#include "worker/output/disk_room.h"
#include "worker/output/folder_lock.h"
#include "worker/output/output_paths.h"
#include "worker/output/result_spool.h"
#include "worker/progress.h"
#include "worker/retrieval/list_exchange.h"
#include "worker/retrieval/precedent_shard.h"
#include "worker/retrieval/shard_index.h"
#include "worker/stage_clock.h"
#include "worker/torch_info.h"

namespace eleanor {
namespace {

// What this rank loaded for itself besides its settings, by content: the embedder (its model and
// vocab), the critics' rules and heads. Files that differ between nodes would have the ranks
// embed or judge alike cases differently.
std::string loadedModelsIdentity(const JobConfig& config, const Embedder& embedder) {
  std::string identity = fmt::format("embedder {}, critics.rules xxh64 {}", embedder.signature(),
                                     fileHash64Hex(config.critics.rules));
  for (const auto& head : config.critics.models)
    identity += fmt::format(", critics.models.{} xxh64 {}", head.name, fileHash64Hex(head.model));
  return identity;
}

// The text a case is embedded as: the configured fields, joined by '\n', empty ones left out.
std::string embeddingText(const Case& c, const std::vector<std::string>& fields) {
  std::string text;
  for (const auto& field : fields) {
    const std::string& value = field == "text" ? c.text : c.output;
    if (value.empty()) continue;
    if (!text.empty()) text += '\n';
    text += value;
  }
  return text;
}

// Takes the cases a model critic could not score out of the round (to errors.jsonl with the
// reason), with their embeddings and critic scores.
void dropFailedCases(const std::vector<ModelCritics::Failure>& failures, CaseBatch& batch,
                     Matrix& embeddings, CriticScores& scores) {
  if (failures.empty()) return;
  const size_t critics = static_cast<size_t>(scores.numCritics);
  size_t kept = 0, next = 0;
  for (size_t i = 0; i < batch.cases.size(); ++i) {
    if (next < failures.size() && failures[next].row == static_cast<int64_t>(i)) {
      batch.errors.push_back({batch.cases[i].line, batch.cases[i].id, failures[next++].reason});
      continue;
    }
    if (kept != i) {
      batch.cases[kept] = std::move(batch.cases[i]);
      const auto row = embeddings.row(static_cast<int64_t>(i));
      std::copy(row.begin(), row.end(), embeddings.row(static_cast<int64_t>(kept)).begin());
      for (size_t c = 0; c < critics; ++c) {
        scores.severity[kept * critics + c] = scores.severity[i * critics + c];
        scores.flags[kept * critics + c] = std::move(scores.flags[i * critics + c]);
      }
    }
    ++kept;
  }
  batch.cases.resize(kept);
  embeddings.rows = static_cast<int64_t>(kept);
  embeddings.values.resize(kept * static_cast<size_t>(embeddings.cols));
  scores.severity.resize(kept * critics);
  scores.flags.resize(kept * critics);
  sortByLine(batch.errors);
}

double peakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

struct RankStats {
  std::array<double, static_cast<size_t>(Stage::kCount)> seconds{};
  double peakRssMb = 0;
  double deviceUsedMb = 0;  // on this rank's GPU, by every process (0 on CPU)
  // LibTorch's caching allocator on this rank's GPU (torch_info.h; 0 on CPU)
  double allocatedMb = 0, reservedMb = 0, peakAllocatedMb = 0, peakReservedMb = 0;
  double storageMb = 0;  // the shard as held for search
  double rescannedQueries = 0;
  double rescoredRows = 0;
  double rescoreSeconds = 0;  // part of the search stage: the exact rescoring on the host
  double outOfMemoryBackoffs = 0;
  double embedderTexts = 0;
  double cacheHits = 0;
  double cacheMisses = 0;
  double shardRows = 0;
};

class Job {
 public:
  Job(const JobConfig& config, Communicator& comm, const DevicePlan& device,
      const ResumeOptions& options)
      : config_(config), comm_(comm), device_(device), options_(options), root_(comm.rank() == 0) {
    // A testing aid for fault drills: slow every round so a test can kill a rank mid-job.
    if (const char* delay = std::getenv("ELEANOR_FAULT_ROUND_DELAY_MS"))
      roundDelay_ = std::chrono::milliseconds(std::atol(delay));
  }

  JobSummary run();

 private:
  void setUp();
  void squeezeGpuForDrill();
  bool round();
  // This rank's cases decided and formatted, and its bad lines: what it sends rank 0
  // (packDecidedRound).
  std::vector<std::byte> decideCases(const CaseBatch& batch, const CriticScores& scores,
                                     const std::vector<std::vector<Candidate>>& tops,
                                     const PrecedentTable& meta);
  // Rank 0: every rank's decided round, written and counted in rank order.
  void writeOnRoot(const std::vector<std::byte>& payloadBytes,
                   const std::vector<size_t>& payloadCounts);
  void finish();
  void logMemory();                  // every gpu.monitoring.memory_check_interval seconds
  void resume();                     // collective: skip what the checkpoint says is done
  void maybeCheckpoint(bool force);  // rank 0
  // Rank 0: runs a write to the staging folder; a failure (a full disk, a quota) says what to do.
  void staged(const std::function<void()>& write);
  // Collective, when some rank was asked to stop (stop_request.h): commits the finished rounds
  // and throws JobStopped on every rank.
  [[noreturn]] void stopOnRequest(int signal);

  const JobConfig& config_;
  Communicator& comm_;
  const DevicePlan& device_;
  const ResumeOptions options_;
  const bool root_;
  std::chrono::milliseconds roundDelay_{0};
  std::shared_ptr<void> drillHold_;  // GPU memory held by squeezeGpuForDrill
  StageClock clock_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastMemoryLog_ = start_;

  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<Critic> critics_;
  std::unique_ptr<ModelCritics> modelCritics_;  // critics.models, combined with the rules
  std::unique_ptr<Aggregator> aggregator_;
  std::unique_ptr<CaseReader> reader_;
  std::unique_ptr<FolderLock> outputLock_;  // rank 0: held until the results are in place
  std::unique_ptr<ResultSpool> spool_;
  std::unique_ptr<ShardIndex> index_;
  std::vector<PrecedentMeta> shardMeta_;
  std::vector<int64_t> shardBegins_;  // every rank's first row, then the corpus size
  int64_t totalRows_ = 0;
  int k_ = 0;
  std::unique_ptr<Progress> progress_;
  std::exception_ptr rootFailure_;  // rank 0's write error, reported at the next agreement
  JobSummary summary_;
  Checkpoint checkpoint_;  // rank 0: identity, settings and progress of this run
  std::chrono::steady_clock::time_point lastCheckpoint_ = start_;
  bool committed_ = false;       // rank 0: a checkpoint exists to resume from
  bool diskRoomWarned_ = false;  // rank 0: once a job is enough
  bool resume_ = false;          // this run continues an unfinished one (decideResume)
};

// A testing aid for memory drills, like ELEANOR_FAULT_ROUND_DELAY_MS: with
// ELEANOR_FAULT_GPU_FREE_MB=N a GPU rank takes all but N MiB of its device's free memory once
// its shard is loaded, and holds it to the end, so that its searches run out of memory and
// back off (gpu.batch) while every case still reaches the results.
void Job::squeezeGpuForDrill() {
  const char* freeMb = std::getenv("ELEANOR_FAULT_GPU_FREE_MB");
  if (freeMb == nullptr || !device_.choice.cuda) return;
  const int64_t leave = static_cast<int64_t>(std::atoll(freeMb)) << 20;
  int64_t taken = 0;
  drillHold_ = holdCudaMemory(device_.choice.device, leave, taken);
  const DeviceMemory memory = queryDeviceMemory(device_.choice.device);
  spdlog::warn("ELEANOR_FAULT_GPU_FREE_MB={}: holding {} MiB of GPU {} ({} MiB left free)", freeMb,
               taken >> 20, device_.choice.device, (memory.totalBytes - memory.usedBytes) >> 20);
}

void Job::setUp() {
  std::string modelsIdentity;
  HostMemory memory;
  // The input first: its mistakes show in a second, a model takes longer to load.
  const InputListing listing = shareInputListing(comm_, "setup", config_.job.input, "job.input");
  runAgreed(comm_, "setup", [&] {
    reader_ = std::make_unique<CaseReader>(listing, "job.input", comm_.rank(), comm_.size(),
                                           config_.job.maxLineBytes);
    embedder_ = makeEmbedder(config_, device_);
    critics_ = std::make_unique<RuleCritics>(loadCriticRules(config_.critics.rules));
    modelCritics_ =
        std::make_unique<ModelCritics>(config_, device_, critics_->names(), embedder_->dim());
    aggregator_ = std::make_unique<Aggregator>(config_.aggregate, critics_->names());
    modelsIdentity = loadedModelsIdentity(config_, *embedder_);
    if (root_) {
      checkRunOutputFolder(reader_->paths(), config_.job.precedents, config_.job.output);
      outputLock_ = std::make_unique<FolderLock>(config_.job.output, "job.output");
    }
    // Before any rank reads its shard (the next stage begins once every rank is here), so that
    // each sees the memory its host's ranks share, not what the first to load left.
    if (config_.job.checkMemory) memory = hostMemory();
  });
  // The cases' files: each rank checks those it opened against rank 0's listing (CaseReader).
  std::vector<StampedFile> inputFiles;
  runAgreed(comm_, "load", [&] {
    PrecedentShard shard = loadPrecedentShard(
        config_.job.precedents, comm_.rank(), comm_.size(), embedder_->dim(),
        embedder_->signature(), critics_->names(), memory, processIdentity().localSize);
    inputFiles.insert(inputFiles.end(), shard.files.begin(), shard.files.end());
    totalRows_ = shard.totalRows;
    for (int r = 0; r < comm_.size(); ++r)
      shardBegins_.push_back(evenSplit(totalRows_, comm_.size(), r).begin);
    shardBegins_.push_back(totalRows_);
    shardMeta_ = std::move(shard.meta);
    index_ = makeShardIndex(std::move(shard.embeddings), shard.rows.begin,
                            searchOptions(config_, device_));
  });
  const auto differing = differingFileVersions(comm_, inputFiles);
  const auto differingModels = ranksThatDiffer(comm_, modelsIdentity);
  runAgreed(comm_, "load", [&] {
    if (differing) throw UserError(*differing);
    if (differingModels) throw UserError(differentModelsMessage(*differingModels));
  });
  squeezeGpuForDrill();
  reader_->numberLines(comm_);
  if (config_.job.duplicateIds != "allow") {
    comm_.setStage("duplicate-ids");
    DuplicateIds duplicates = findDuplicateIds(*reader_, comm_);
    runAgreed(comm_, "duplicate-ids", [&] {
      if (duplicates.total > 0 && config_.job.duplicateIds == "error")
        throw UserError(fmt::format(
            "{} case(s) in {} repeat an earlier id (e.g. {} repeats the id of {}): make ids "
            "unique, or set job.duplicate_ids: keep_first to review only the first",
            duplicates.total, inputsText(config_.job.input),
            reader_->lineNames().describe(duplicates.exampleLine),
            reader_->lineNames().describe(duplicates.exampleFirst)));
    });
    if (root_ && duplicates.total > 0)
      spdlog::warn("{} case(s) repeat an earlier id (e.g. {} repeats {}): they go to errors.jsonl",
                   duplicates.total, reader_->lineNames().describe(duplicates.exampleLine),
                   reader_->lineNames().describe(duplicates.exampleFirst));
    reader_->setDuplicates(std::move(duplicates.laterLines));
  }
  // Only now, with every input checked, a new run discards an unfinished one's staging.
  runAgreed(comm_, "output", [&] {
    if (!root_) return;
    spool_ = std::make_unique<ResultSpool>(config_.job.output, comm_.size(), resume_);
    checkpoint_.input = inputIdentity(reader_->listing());
    checkpoint_.settings = resultSettingsHash(config_);
    checkpoint_.worldSize = comm_.size();
    checkpoint_.linesPerRank.assign(comm_.size(), 0);
  });
  if (resume_) resume();
  k_ = static_cast<int>(std::min<int64_t>(config_.job.topK, totalRows_));
  if (root_) {
    if (totalRows_ == 0) {
      spdlog::warn("the precedent corpus '{}' is empty: every case will be novel",
                   config_.job.precedents);
    } else if (k_ < config_.job.topK) {
      spdlog::warn("job.top_k = {} but the corpus has {} precedents: using k = {}",
                   config_.job.topK, totalRows_, k_);
    }
    spdlog::info("input {} ({}{} lines, {} bytes), precedents {} ({} x {}), k = {}, {} critics",
                 inputsText(config_.job.input),
                 reader_->paths().size() > 1 ? fmt::format("{} files, ", reader_->paths().size())
                                             : std::string(),
                 reader_->totalLines(), reader_->inputBytes(), config_.job.precedents, totalRows_,
                 embedder_->dim(), k_, critics_->names().size());
    progress_ = std::make_unique<Progress>(reader_->totalLines(), config_.logging.progressIntervalS,
                                           summary_.resumedLines);
    for (const auto& name : decisionNames()) summary_.decisions.emplace(name, 0);
  }
  clock_.trace(config_.gpu.monitoring.enableProfiling);
  summary_.setupSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  clock_.restart();
}

void Job::resume() {
  std::vector<int64_t> done(comm_.size(), 0);
  runAgreed(comm_, "resume", [&] {
    if (!root_) return;
    const Checkpoint saved = readCheckpoint(spool_->stagingDir());
    const std::string refusal = resumeRefusal(saved, checkpoint_);
    if (!refusal.empty())
      throw UserError("cannot resume the run in " + config_.job.output + ": " + refusal);
    spool_->truncate(saved.resultBytes, saved.errorBytes);
    done = saved.linesPerRank;
    checkpoint_.rounds = saved.rounds;
    checkpoint_.linesPerRank = saved.linesPerRank;
    summary_.lines = saved.lines;
    summary_.results = saved.results;
    summary_.errors = saved.errors;
    summary_.blankLines = saved.blankLines;
    summary_.decisions = saved.decisions;
    summary_.resumedLines = saved.lines;
    summary_.resumedResults = saved.results;
    committed_ = true;
  });
  comm_.setStage("resume");
  comm_.broadcast(done.data(), done.size() * sizeof(int64_t), 0);
  reader_->skip(done[comm_.rank()]);
  if (root_)
    spdlog::info("resuming after {} committed rounds: {} of {} lines already done",
                 checkpoint_.rounds, summary_.resumedLines, reader_->totalLines());
}

void Job::maybeCheckpoint(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && std::chrono::duration<double>(now - lastCheckpoint_).count() <
                    config_.job.checkpointIntervalS)
    return;
  lastCheckpoint_ = now;
  spool_->sync();
  checkpoint_.resultBytes = spool_->sizes("results");
  checkpoint_.errorBytes = spool_->sizes("errors");
  checkpoint_.lines = summary_.lines;
  checkpoint_.results = summary_.results;
  checkpoint_.errors = summary_.errors;
  checkpoint_.blankLines = summary_.blankLines;
  checkpoint_.decisions = summary_.decisions;
  writeCheckpoint(spool_->stagingDir(), checkpoint_);
  committed_ = true;
  if (!diskRoomWarned_) {
    int64_t staged = 0;
    for (const int64_t bytes : checkpoint_.resultBytes) staged += bytes;
    for (const int64_t bytes : checkpoint_.errorBytes) staged += bytes;
    if (auto warning =
            diskRoomWarning({config_.job.output, "job.output", "results.jsonl and errors.jsonl"},
                            {staged, summary_.lines, reader_->totalLines()},
                            fileSystemFreeBytes(config_.job.output))) {
      spdlog::warn("{}", *warning);
      diskRoomWarned_ = true;
    }
  }
}

void Job::staged(const std::function<void()>& write) {
  try {
    write();
  } catch (const UserError& e) {
    throw UserError(fmt::format("{}: make room in {} (job.output) and run the same command {}",
                                e.what(), config_.job.output,
                                committed_ ? "with --resume to go on from the last checkpoint"
                                           : "again (no round was committed yet)"));
  }
}

void Job::stopOnRequest(int signal) {
  // (rank 0's write failure, if any, was already reported by this round's first agreement)
  runAgreed(comm_, "stop", [&] {
    if (root_) staged([&] { maybeCheckpoint(true); });
  });
  std::string message;
  if (root_)
    message = fmt::format(
        "stopped on {}: {} of {} lines are done ({} results, {} errors) and committed in {} "
        "after {} rounds; run the same command with --resume to finish the job",
        signalName(signal), summary_.lines, reader_->totalLines(), summary_.results,
        summary_.errors, spool_->stagingDir(), checkpoint_.rounds);
  throw JobStopped(message, kStoppedExitCode);
}

void Job::logMemory() {
  const double interval = config_.gpu.monitoring.memoryCheckInterval;
  const auto now = std::chrono::steady_clock::now();
  if (interval <= 0 || std::chrono::duration<double>(now - lastMemoryLog_).count() < interval)
    return;
  lastMemoryLog_ = now;
  std::string device;
  if (device_.choice.cuda) {
    const DeviceMemory memory = queryDeviceMemory(device_.choice.device);
    device = fmt::format(", cuda:{} {:.0f} of {:.0f} MiB in use", device_.choice.device,
                         memory.usedBytes / double(1 << 20), memory.totalBytes / double(1 << 20));
    const TorchCudaMemory torch = torchCudaMemory(device_.choice.device);
    if (torch.available)
      device += fmt::format(" (allocator: {:.0f} allocated, {:.0f} reserved, peak {:.0f} / {:.0f})",
                            torch.allocatedMb, torch.reservedMb, torch.peakAllocatedMb,
                            torch.peakReservedMb);
  }
  spdlog::info("memory: peak rss {:.0f} MiB, shard {:.0f} MiB{}", peakRssMb(),
               index_->stats().storageBytes / double(1 << 20), device);
}

bool Job::round() {
  logMemory();
  if (roundDelay_.count() > 0) std::this_thread::sleep_for(roundDelay_);
  CaseBatch batch;
  Matrix embeddings;
  CriticScores scores;
  // Rank 0's failure to write the last round comes out here, named after its own stage.
  runAgreed(comm_, rootFailure_ ? "write" : "read/embed/critics", [&] {
    if (rootFailure_) std::rethrow_exception(rootFailure_);
    setCrashStage("read");
    batch = reader_->next(config_.job.batchSize);
    clock_.mark(Stage::kRead);
    setCrashStage("embed");
    std::vector<std::string> texts;
    texts.reserve(batch.cases.size());
    for (const auto& c : batch.cases) texts.push_back(embeddingText(c, config_.embedder.fields));
    const std::vector<std::string_view> views(texts.begin(), texts.end());
    embeddings = embedder_->embed(views);
    const auto toErrors = [&](const Case& c) {
      batch.errors.push_back({c.line, c.id, nonFiniteEmbeddingReason(config_.embedder.type)});
    };
    if (dropNonFiniteRows(embeddings, batch.cases, toErrors) > 0) sortByLine(batch.errors);
    clock_.mark(Stage::kEmbed);
    setCrashStage("critics");
    scores = critics_->evaluate(batch.cases);
    dropFailedCases(modelCritics_->apply(embeddings, scores), batch, embeddings, scores);
    clock_.mark(Stage::kCritics);
  });
  // Whether any rank has lines left, and the signal of any rank asked to stop (0: none). This
  // round's cases are not committed when the job stops here: a resume reads them again.
  std::array<int64_t, 2> agreed{batch.linesRead() > 0 ? 1 : 0, stopRequestSignal()};
  comm_.allReduceMax(agreed);
  if (agreed[0] == 0) return false;
  if (agreed[1] != 0) stopOnRequest(static_cast<int>(agreed[1]));

  comm_.setStage("gather-queries");
  Matrix queries;
  queries.cols = embedder_->dim();
  std::vector<size_t> floatsPerRank;
  queries.values =
      allGatherValues<float>(comm_, std::span<const float>(embeddings.values), &floatsPerRank);
  queries.rows = static_cast<int64_t>(queries.values.size()) / queries.cols;
  std::vector<size_t> queryRowsPerRank;
  for (const size_t floats : floatsPerRank)
    queryRowsPerRank.push_back(floats / static_cast<size_t>(queries.cols));
  clock_.mark(Stage::kGatherQueries);

  std::vector<Candidate> lists;
  runAgreed(comm_, "search", [&] {
    if (k_ > 0) index_->search(queries, k_, lists);
  });
  clock_.mark(Stage::kSearch);

  // Each rank merges and decides its own cases, so no rank receives more than its share: per
  // round, a rank gets W lists per case and the metadata of its cases' top k only, and rank 0
  // gets finished lines.
  comm_.setStage("exchange-lists");
  DeferredFailure failure;
  const std::vector<std::vector<Candidate>> tops =
      exchangeTopK(comm_, lists, queryRowsPerRank, k_, failure);
  comm_.setStage("fetch-metadata");
  const PrecedentTable meta =
      fetchPrecedentMeta(comm_, tops, shardBegins_, shardMeta_, critics_->names().size(), failure);
  clock_.mark(Stage::kGatherResults);

  std::vector<std::byte> payload;
  runAgreed(comm_, "aggregate", [&] {
    setCrashStage("aggregate");
    failure.rethrow();
    payload = decideCases(batch, scores, tops, meta);
  });
  clock_.mark(Stage::kAggregate);

  comm_.setStage("gather-results");
  std::vector<std::byte> payloadBytes;
  std::vector<size_t> payloadCounts;
  comm_.gatherV(payload.data(), payload.size(), 0, payloadBytes, payloadCounts);
  clock_.mark(Stage::kGatherResults);

  if (root_) {
    setCrashStage("write");
    try {
      writeOnRoot(payloadBytes, payloadCounts);
    } catch (...) {
      rootFailure_ = std::current_exception();
    }
  }
  return true;
}

std::vector<std::byte> Job::decideCases(const CaseBatch& batch, const CriticScores& scores,
                                        const std::vector<std::vector<Candidate>>& tops,
                                        const PrecedentTable& meta) {
  const auto& names = critics_->names();
  const size_t numCritics = names.size();
  ELEANOR_ASSERT(batch.cases.empty() || static_cast<size_t>(scores.numCritics) == numCritics,
                 "critic count mismatch");
  ELEANOR_ASSERT(tops.size() == batch.cases.size(), "a top-k list per case");
  // Independent per case, so on this rank's threads (OMP_NUM_THREADS); the lines keep their
  // order and the decisions are counted afterwards, so the output does not depend on the
  // thread count.
  const int64_t count = static_cast<int64_t>(batch.cases.size());
  std::vector<std::string> results(static_cast<size_t>(count));
  std::vector<Decision> decisions(static_cast<size_t>(count));
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 16) if (count > 64)
  for (int64_t i = 0; i < count; ++i) {
    try {
      const size_t at = static_cast<size_t>(i);
      // A thread's case and signals are reused, their strings and vectors keeping their room: a
      // case's ten precedents then cost no allocation.
      thread_local CaseResult result;
      thread_local std::vector<PrecedentSignal> signals;
      result.id = batch.cases[at].id;
      const auto severity = scores.severity.begin() + at * numCritics;
      result.rawSeverities.assign(severity, severity + numCritics);
      const auto flags = scores.flags.begin() + at * numCritics;
      result.flags.assign(flags, flags + numCritics);
      const std::vector<Candidate>& top = tops[at];
      signals.resize(top.size());
      result.precedents.resize(top.size());
      for (size_t p = 0; p < top.size(); ++p) {
        const PrecedentTable::Entry m = meta.at(top[p].row);
        PrecedentSignal& signal = signals[p];
        signal.similarity = std::clamp(top[p].score, -1.0, 1.0);
        signal.decision = parseDecision(m.decision);
        signal.severities.clear();
        for (const double s : m.severity) {
          if (s >= 0) signal.severities.push_back(s);
        }
        PrecedentEvidence& evidence = result.precedents[p];
        evidence.id.assign(m.id);
        evidence.similarity = top[p].score;
        evidence.decision.assign(m.decision);
      }
      result.aggregate = aggregator_->aggregate({result.rawSeverities, signals});
      decisions[at] = result.aggregate.decision;
      results[at] = formatResultLine(result, names);
    } catch (...) {
#pragma omp critical(eleanor_decide_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);

  DecidedRound decided;
  DecidedCounts& counts = decided.counts;
  counts.lines = batch.linesRead();
  counts.blank = batch.blankLines;
  counts.results = count;
  counts.errors = static_cast<int64_t>(batch.errors.size());
  counts.lastErrorLine = batch.errors.empty() ? 0 : batch.errors.back().line;
  for (const Decision d : decisions) ++counts.decisions[static_cast<size_t>(d)];
  std::string resultText, errorText;
  size_t bytes = 0;
  for (const auto& line : results) bytes += line.size() + 1;
  resultText.reserve(bytes);
  for (const auto& line : results) (resultText += line) += '\n';
  for (const auto& e : batch.errors)
    (errorText += formatErrorLine(e.line, e.id, e.reason, reader_->lineNames())) += '\n';
  decided.resultText = resultText;
  decided.errorText = errorText;
  return packDecidedRound(decided);
}

void Job::writeOnRoot(const std::vector<std::byte>& payloadBytes,
                      const std::vector<size_t>& payloadCounts) {
  size_t offset = 0;
  for (int r = 0; r < comm_.size(); ++r) {
    const DecidedRound round =
        unpackDecidedRound(std::span(payloadBytes).subspan(offset, payloadCounts[r]));
    offset += payloadCounts[r];
    const DecidedCounts& counts = round.counts;
    for (size_t d = 0; d < kDecisionCount; ++d)
      summary_.decisions[std::string(decisionName(static_cast<Decision>(d)))] +=
          counts.decisions[d];
    summary_.results += counts.results;
    summary_.errors += counts.errors;
    if (config_.job.maxErrors >= 0 && summary_.errors > config_.job.maxErrors) {
      spool_->appendText(r, {}, round.errorText);
      spool_->commitErrorsOnly();
      throw UserError(fmt::format(
          "job.max_errors = {} exceeded: {} bad lines so far (the latest up to {}); the input "
          "looks wrong: see {}/errors.jsonl, fix it, or raise job.max_errors",
          config_.job.maxErrors, summary_.errors,
          reader_->lineNames().describe(counts.lastErrorLine), config_.job.output));
    }
    summary_.blankLines += counts.blank;
    summary_.lines += counts.lines;
    checkpoint_.linesPerRank[r] += counts.lines;
    staged([&] { spool_->appendText(r, round.resultText, round.errorText); });
    clock_.mark(Stage::kWrite);
  }
  ++checkpoint_.rounds;
  staged([&] { maybeCheckpoint(false); });
  progress_->update(summary_.lines);
}

void Job::finish() {
  // Gather every rank's figures for the report.
  RankStats mine;
  mine.seconds = clock_.seconds();
  mine.peakRssMb = peakRssMb();
  const EmbedderStats embedStats = embedder_->stats();
  mine.embedderTexts = static_cast<double>(embedStats.texts);
  mine.cacheHits = static_cast<double>(embedStats.cacheHits);
  mine.cacheMisses = static_cast<double>(embedStats.cacheMisses);
  mine.shardRows = static_cast<double>(index_->rows());
  const SearchStats search = index_->stats();
  mine.storageMb = search.storageBytes / double(1 << 20);
  mine.rescannedQueries = static_cast<double>(search.rescannedQueries);
  mine.rescoredRows = static_cast<double>(search.rescoredRows);
  mine.rescoreSeconds = search.rescoreSeconds;
  mine.outOfMemoryBackoffs = static_cast<double>(search.outOfMemoryBackoffs);
  if (device_.choice.cuda) {
    mine.deviceUsedMb = queryDeviceMemory(device_.choice.device).usedBytes / double(1 << 20);
    const TorchCudaMemory torch = torchCudaMemory(device_.choice.device);
    mine.allocatedMb = torch.allocatedMb;
    mine.reservedMb = torch.reservedMb;
    mine.peakAllocatedMb = torch.peakAllocatedMb;
    mine.peakReservedMb = torch.peakReservedMb;
  }
  std::vector<RankStats> stats(comm_.size());
  comm_.setStage("report");
  comm_.allGather(&mine, stats.data(), sizeof(RankStats));
  const std::vector<std::string> hosts = allGatherStrings(comm_, processIdentity().host);
  const std::vector<std::string> devices = allGatherStrings(comm_, search.placement);

  runAgreed(comm_, "write", [&] {
    if (rootFailure_) std::rethrow_exception(rootFailure_);
    if (!root_) return;
    // Checkpointed first: where the copy into results.jsonl fails (it needs room for a second
    // copy of the spools), a resume has every round and only writes the files.
    staged([&] {
      maybeCheckpoint(true);
      spool_->commit();
    });
    summary_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double processing = summary_.seconds - summary_.setupSeconds;
    summary_.casesPerSecond =
        processing > 0 ? (summary_.results - summary_.resumedResults) / processing : 0.0;
    summary_.outputDir = config_.job.output;
    progress_->finish(summary_.lines);

    nlohmann::ordered_json report;
    report["world_size"] = comm_.size();
    report["backend"] = comm_.backend();
    report["devices"] = devices;
    report["hosts"] = hosts;
    report["config"] = {{"file", config_.file}, {"hash", config_.hash}};
    report["input"] = {
        {"path", config_.job.input.size() == 1 ? nlohmann::ordered_json(config_.job.input.front())
                                               : nlohmann::ordered_json(config_.job.input)},
        {"files", reader_->paths()},
        {"lines", reader_->totalLines()},
        {"bytes", reader_->inputBytes()}};
    report["precedents"] = {{"path", config_.job.precedents},
                            {"rows", totalRows_},
                            {"dim", embedder_->dim()},
                            {"top_k", k_}};
    report["counts"] = {{"lines", summary_.lines},
                        {"results", summary_.results},
                        {"errors", summary_.errors},
                        {"blank_lines", summary_.blankLines},
                        {"resumed_lines", summary_.resumedLines}};
    report["decisions"] = summary_.decisions;
    report["seconds"] = summary_.seconds;
    report["setup_seconds"] = summary_.setupSeconds;
    report["cases_per_second"] = summary_.casesPerSecond;
    nlohmann::ordered_json stages;
    for (size_t s = 0; s < kStageNames.size(); ++s) {
      std::vector<double> perRank;
      for (const auto& st : stats) perRank.push_back(st.seconds[s]);
      stages[std::string(kStageNames[s])] = perRank;
    }
    report["stage_seconds_per_rank"] = std::move(stages);
    std::vector<double> rss, rows, hits, misses, deviceUsed, storage, rescanned, rescored,
        rescoreSeconds, backoffs;
    for (const auto& st : stats) {
      rss.push_back(st.peakRssMb);
      rows.push_back(st.shardRows);
      hits.push_back(st.cacheHits);
      misses.push_back(st.cacheMisses);
      deviceUsed.push_back(st.deviceUsedMb);
      storage.push_back(st.storageMb);
      rescanned.push_back(st.rescannedQueries);
      rescored.push_back(st.rescoredRows);
      rescoreSeconds.push_back(st.rescoreSeconds);
      backoffs.push_back(st.outOfMemoryBackoffs);
    }
    report["peak_rss_mb_per_rank"] = rss;
    report["device_used_mb_per_rank"] = deviceUsed;
    // LibTorch's CUDA caching allocator per rank: current and peak, allocated and reserved.
    nlohmann::ordered_json allocator;
    for (const auto& [name, field] : {std::pair{"allocated", &RankStats::allocatedMb},
                                      {"reserved", &RankStats::reservedMb},
                                      {"peak_allocated", &RankStats::peakAllocatedMb},
                                      {"peak_reserved", &RankStats::peakReservedMb}}) {
      std::vector<double> perRank;
      for (const auto& st : stats) perRank.push_back(st.*field);
      allocator[std::string(name) + "_mb_per_rank"] = perRank;
    }
    report["cuda_allocator"] = std::move(allocator);
    report["shard_rows_per_rank"] = rows;
    report["shard_storage_mb_per_rank"] = storage;
    report["search"] = {{"rescanned_queries_per_rank", rescanned},
                        {"rescored_rows_per_rank", rescored},
                        {"rescore_seconds_per_rank", rescoreSeconds},
                        {"out_of_memory_backoffs_per_rank", backoffs}};
    report["embedding_cache"] = {{"hits_per_rank", hits}, {"misses_per_rank", misses}};
    spool_->writeFile("report.json", report.dump(2) + "\n");
  });
}

JobSummary Job::run() {
  installStopRequest();
  const std::string staging = stagingDirOf(config_.job.output);
  resume_ = decideResume(comm_, options_, "run", staging, [&] { return hasCheckpoint(staging); });
  setUp();
  while (round()) {
  }
  finish();
  if (config_.gpu.monitoring.enableProfiling) {
    comm_.setStage("trace");
    const std::string path =
        writeChromeTrace(comm_, clock_.spans(),
                         fmt::format("rank {} ({}, {})", comm_.rank(), processIdentity().host,
                                     index_->stats().placement),
                         config_.gpu.monitoring.profileDir);
    if (!path.empty()) spdlog::info("trace of every stage per rank: {} (open in Perfetto)", path);
  }
  return summary_;
}

}  // namespace

JobSummary runJob(const JobConfig& config, Communicator& comm, const DevicePlan& device,
                  const ResumeOptions& options) {
  Job job(config, comm, device, options);
  return job.run();
}

}  // namespace eleanor
