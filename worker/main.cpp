// eleanor-worker: one rank of an eleanor-dist job. Start it with eleanor-launch, mpirun or srun.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/agreement.h"
#include "common/blas_core.h"
#include "common/crash_report.h"
#include "common/device_info.h"
#include "common/device_select.h"
#include "common/file_versions.h"
#include "common/job_communicator.h"
#include "common/log.h"
#include "common/mpi_communicator.h"
#include "common/process_identity.h"
#include "worker/cases/input_files.h"
#include "worker/device_plan.h"
#include "worker/doctor.h"
#include "worker/host_check.h"
#include "worker/index_builder.h"
#include "worker/job_config.h"
#include "worker/pipeline.h"
#include "worker/torch_info.h"

namespace {

using namespace eleanor;

void printRunSummary(const JobSummary& s, const JobConfig& config, int world) {
  std::printf("eleanor-dist run: %lld lines of %s on %d rank(s)\n", static_cast<long long>(s.lines),
              inputsText(config.job.input).c_str(), world);
  std::printf("  %-20s %10s\n", "decision", "cases");
  for (const char* name : {"allow", "constrained_allow", "escalate", "deny"}) {
    const auto it = s.decisions.find(name);
    std::printf("  %-20s %10lld\n", name,
                static_cast<long long>(it == s.decisions.end() ? 0 : it->second));
  }
  std::printf("  %-20s %10lld\n", "errors", static_cast<long long>(s.errors));
  if (s.resumedLines > 0)
    std::printf("  %-20s %10lld  (done before the resume; cases/s counts this run's)\n",
                "resumed lines", static_cast<long long>(s.resumedLines));
  std::printf("  %-20s %10.1f  (%.2f s in all, %.2f s of it setup)\n", "cases/s", s.casesPerSecond,
              s.seconds, s.setupSeconds);
  std::printf("  %-20s %s/{results.jsonl, errors.jsonl, report.json}\n", "output",
              s.outputDir.c_str());
  std::fflush(stdout);
}

// LibTorch's threads: search.threads when set; else OMP_NUM_THREADS when set (LibTorch reads
// it); else this host's cores shared among the ranks on it, so co-located ranks do not fight.
void chooseThreads(const JobConfig& config, const ProcessIdentity& id) {
  if (config.search.threads > 0) {
    setTorchThreads(config.search.threads);
    return;
  }
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp && *omp) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  setTorchThreads(std::max(1, cores / std::max(1, id.localSize)));
}

// Rank 0 only: settings that this runner accepts and does not use.
void explainIgnored(const JobConfig& config) {
  if (config.gpu.ollamaIgnored)
    spdlog::warn(
        "gpu.ollama is ignored: the runner reviews the model outputs the cases carry "
        "and starts no LLM server");
}

// Collective: picks this rank's device and has rank 0 print the rank -> host -> device table.
DevicePlan placeRanks(const JobConfig& config, Communicator& comm) {
  DevicePlan plan;
  runAgreed(comm, "devices",
            [&] { plan = planDevice(config, processIdentity(), queryDevices(), torchHasCuda()); });
  const std::string mismatch = checkLocalRank(processIdentity().localRank);
  if (!mismatch.empty()) spdlog::warn("{}", mismatch);
  const auto hosts = allGatherStrings(comm, processIdentity().host);
  const auto devices = allGatherStrings(comm, plan.description);
  if (comm.rank() == 0) {
    for (const auto& warning : plan.choice.warnings) spdlog::warn("{}", warning);
    std::string table = fmt::format("{:>6}  {:<20}  {}", "rank", "host", "device");
    for (int r = 0; r < comm.size(); ++r)
      table += fmt::format("\n{:>6}  {:<20}  {}", r, hosts[r], devices[r]);
    spdlog::info("ranks and devices:\n{}", table);
  }
  return plan;
}

// gpu.memory.max_memory_per_gpu on LibTorch's allocator for this rank's GPU (the index also
// sizes its tiles to it); rank 0 says what was set.
void capGpuMemory(const JobConfig& config, const DevicePlan& plan, bool root) {
  const int64_t cap = config.gpu.memory.maxMemoryPerGpuBytes;
  if (cap <= 0 || !plan.choice.cuda) return;
  const DeviceMemory memory = queryDeviceMemory(plan.choice.device);
  std::string why;
  const double fraction = capCudaAllocator(plan.choice.device, cap, memory.totalBytes, why);
  if (fraction <= 0) {  // every rank that could not says so: it is its own GPU
    spdlog::warn(
        "gpu.memory.max_memory_per_gpu ({}): LibTorch's allocator on GPU {} is not capped ({}); "
        "the shard and the score tiles are still sized to the cap",
        config.gpu.memory.maxMemoryPerGpu, plan.choice.device, why);
    return;
  }
  if (root)
    spdlog::info(
        "gpu.memory.max_memory_per_gpu: LibTorch's allocator on each rank's GPU capped at {} "
        "({:.1f}% of GPU {}'s {:.1f} GiB){}",
        config.gpu.memory.maxMemoryPerGpu, 100 * fraction, plan.choice.device,
        memory.totalBytes / double(int64_t{1} << 30),
        fraction >= 1 ? ": that is all of it, so no cap" : "");
}

}  // namespace

int main(int argc, char** argv) {
  ensureThreadingEnvironment(argv);  // may start this program again, before MPI exists
  MpiSession session(&argc, &argv);
  MpiCommunicator comm(/*timeoutSeconds=*/600);
  setProcessIdentity({comm.rank(), comm.size(), comm.localRank(), comm.localSize(), hostName()});
  initLogging("info");
  installCrashReport();
  const bool root = comm.rank() == 0;

  CLI::App app{
      "eleanor-worker: one rank of an eleanor-dist job (start it with eleanor-launch, "
      "mpirun or srun)"};
  app.require_subcommand(1);
  std::string configPath;
  std::vector<std::string> sets;
  std::vector<std::string> indexInput;
  std::string indexOutput;
  const auto addConfigOptions = [&](CLI::App* sub, bool required) {
    auto* option =
        sub->add_option("--config", configPath, "job config (YAML), e.g. config/eleanor.yaml");
    if (required) option->required();
    sub->add_option("--set", sets, "override a config key: --set job.top_k=20 (repeatable)");
  };
  auto* run =
      app.add_subcommand("run", "run the job: cases -> results.jsonl, errors.jsonl, report.json");
  addConfigOptions(run, true);
  ResumeOptions runOptions;
  auto* resume =
      run->add_flag("--resume", runOptions.resume,
                    "continue the unfinished run in job.output from its last checkpoint");
  run->add_flag("--resume-if-unfinished", runOptions.resumeIfUnfinished,
                "like --resume where job.output holds an unfinished run with a checkpoint, else "
                "start a new run (for a requeued batch job)")
      ->excludes(resume);
  auto* index =
      app.add_subcommand("index", "build a precedent corpus folder from a precedents JSONL");
  addConfigOptions(index, true);
  index
      ->add_option("--input", indexInput,
                   "precedents JSONL {id, text, decision, severity}: one or more files, folders "
                   "(their *.jsonl, *.ndjson, *.json) or quoted patterns, read as one")
      ->required();
  index->add_option("--out", indexOutput, "corpus folder to write (embeddings.npy, meta.jsonl)")
      ->required();
  ResumeOptions indexOptions;
  auto* indexResume =
      index->add_flag("--resume", indexOptions.resume,
                      "continue the unfinished build in --out from what each rank committed");
  index
      ->add_flag("--resume-if-unfinished", indexOptions.resumeIfUnfinished,
                 "like --resume where --out holds an unfinished build, else start a new one (for "
                 "a requeued batch job)")
      ->excludes(indexResume);
  auto* doctor =
      app.add_subcommand("doctor", "print versions, devices, world and the config it would run");
  addConfigOptions(doctor, false);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every rank parsed the same arguments; one message is enough. A wrong command line is a
    // user error (2), whatever CLI11's own code for it; --help and --version exit 0.
    const int code = root ? app.exit(e) : e.get_exit_code();
    return code == 0 ? 0 : 2;
  }

  // Ranks that came up as singletons would each run the whole job: stop them first.
  if (const std::string wrong = checkWorldSize(comm.size()); !wrong.empty()) {
    if (root) spdlog::error("{}", wrong);
    return 2;
  }

  try {
    if (doctor->parsed()) {
      std::unique_ptr<JobConfig> config;
      std::string problem;
      if (configPath.empty()) configPath = "config/eleanor.yaml";
      try {
        config = std::make_unique<JobConfig>(loadJobConfig(configPath, sets, false));
      } catch (const UserError& e) {
        problem = e.what();
      }
      if (config) chooseThreads(*config, processIdentity());
      return runDoctor(comm, config.get(), problem);
    }

    JobConfig config;
    runAgreed(comm, "config", [&] {
      config = loadJobConfig(configPath, sets, run->parsed());
      initLogging(config.logging.level);
      if (root) explainIgnored(config);
    });
    const auto differing = differingSettings(comm, config.hash, configPath);
    runAgreed(comm, "config", [&] {
      if (differing) throw UserError(*differing);
    });
    // A warning, not a stop as for settings: builds of one source on two nodes may differ in
    // bytes and still decide alike. But another build or LibTorch on a node may decide its cases
    // otherwise than a run on one node does.
    if (const auto builds = ranksThatDiffer(comm, buildAndLibraries()); builds && root)
      spdlog::warn(
          "the ranks do not all run the same build and libraries ({}): their cases may be "
          "decided otherwise than on one node; install the same on every node (`eleanor-launch "
          "... -- doctor` compares every host)",
          *builds);
    comm.setTimeout(config.comm.timeoutS);
    chooseThreads(config, processIdentity());
    setCudnnBenchmark(config.gpu.cuda.benchmark);
    if (root) {
      if (const std::string note = blasKernelsNote(); !note.empty()) spdlog::info("{}", note);
      spdlog::info("{}", threadWaitNote());
      spdlog::info("{}", memoryPagesNote());
      spdlog::info("effective settings ({}, hash {}):\n{}", config.file, config.hash,
                   effectiveConfigText(config));
    }

    if (run->parsed()) {
      const DevicePlan device = placeRanks(config, comm);
      capGpuMemory(config, device, root);
      std::shared_ptr<Communicator> jobComm;
      runAgreed(comm, "communicator", [&] {
        jobComm = makeJobCommunicator(config.comm.backend, comm,
                                      device.choice.cuda ? device.choice.device : -1,
                                      config.comm.timeoutS);
      });
      if (root) spdlog::info("collectives: {}", jobComm->backend());
      const JobSummary summary = runJob(config, *jobComm, device, runOptions);
      if (root) printRunSummary(summary, config, comm.size());
    } else {
      // Only a model embedder computes on a device: the hashing embedder indexes on the CPU
      // with any number of ranks per host.
      const DevicePlan device =
          config.embedder.type == "torchscript" ? placeRanks(config, comm) : DevicePlan{};
      const IndexSummary summary =
          buildIndex(config, indexInput, indexOutput, comm, device, indexOptions);
      if (root) {
        const std::string resumed =
            summary.resumedLines > 0
                ? fmt::format(", resumed with {} lines done", summary.resumedLines)
                : "";
        std::printf(
            "eleanor-dist index: %lld precedents x %lld dims -> %s (%lld bad lines in "
            "errors.jsonl), %.2f s%s\n",
            static_cast<long long>(summary.rows), static_cast<long long>(summary.dim),
            indexOutput.c_str(), static_cast<long long>(summary.errors), summary.seconds,
            resumed.c_str());
      }
    }
    return 0;
  } catch (const JobStopped& e) {
    // Asked to stop (a signal): every rank agreed, and rank 0 committed the finished rounds.
    if (root) spdlog::warn("{}", e.what());
    return e.exitCode();
  } catch (const JobFailure& e) {
    // Every rank agreed on this failure; rank 0 says it once.
    if (root) spdlog::error("{}", e.what());
    return e.exitCode();
  } catch (const CollectiveTimeout& e) {
    spdlog::critical("{}", e.what());
    comm.abort(3);
  } catch (const UserError& e) {
    spdlog::error("{}", e.what());
    if (comm.size() > 1) comm.abort(2);
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    if (comm.size() > 1) comm.abort(1);
    return 1;
  }
}
