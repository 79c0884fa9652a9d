// `doctor` on every host of a world, not only rank 0's: on a cluster the job's first failure is
// often a node that differs from the one the user tried it on (another build or LibTorch, the
// reference BLAS, a config or corpus copied to /tmp on one node only, less memory). Rank 0
// lists the files every rank reads; the first rank of each other host checks them where it
// runs and reports what its host has; rank 0 compares each host with its own (doctor.cpp
// gathers and prints). Everything here is local and starts nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/job_config.h"
#include "worker/preflight.h"

namespace eleanor {

// A file every rank of a run opens, as rank 0 found it.
struct JobFile {
  std::string setting;  // "job.input", "job.precedents", "embedder.model", ...
  std::string path;
  int64_t bytes = 0;
};

struct JobFiles {
  std::vector<JobFile> files;
  int64_t inputFiles = 0;   // the input's files, all of them (files holds at most maxInputFiles)
  int64_t corpusRows = -1;  // embeddings.npy's shape, -1 where rank 0 could not read it
  int64_t corpusDim = -1;
};

// The files of `config` that rank 0 can stat (those it cannot are its own rows' problems): the
// input's (at most `maxInputFiles`, evenly spaced, the first and last among them, so that a
// folder of 100,000 parts costs each host 1,000 stats), the corpus's embeddings.npy and
// meta.jsonl, the embedder's model and vocab, each model critic's model.
JobFiles jobFilesOf(const JobConfig& config, size_t maxInputFiles = 1000);

// What one host has and found: the facts a run needs the same on every host (build, libraries,
// config) and those that only describe it (cores, memory, GPUs).
struct HostFacts {
  std::string host;
  std::string torch;  // LibTorch's version
  std::string blas;   // the BLAS library loaded
  bool blasOptimized = false;
  std::string mpi;  // MPI_Get_library_version's first line
  std::vector<std::string> gpus;
  int cores = 0;
  int64_t memoryBytes = -1;  // hostMemory(): what this host's ranks may take, -1 unknown
  std::string memorySource;
  std::string configHash;             // "" where the config did not load here
  std::string configProblem;          // why not
  std::vector<std::string> problems;  // rank 0's files and this host's memory, checked here
};

// This host's facts (queries LibTorch, the BLAS, CUDA and /proc). With `check`, also checks
// `files` here (each readable, of rank 0's size) and whether the largest shard fits what each
// of `localRanks` ranks may take of this host's memory (job.check_memory).
HostFacts collectHostFacts(const JobConfig* config, const std::string& configProblem,
                           const JobFiles& files, int localRanks, int worldSize, bool check);

// The problems of rank 0's files as seen here: cannot be opened, not a regular file, another
// size. At most `maxListed` named, then how many more.
std::vector<std::string> jobFileProblems(const JobFiles& files, size_t maxListed = 3);

std::string hostFactsJson(const HostFacts& facts);
std::string jobFilesJson(const JobFiles& files);
HostFacts hostFactsFromJson(const std::string& text);
JobFiles jobFilesFromJson(const std::string& text);

// doctor's rows for a world of several hosts: one a host (`hosts[i]`, whose ranks are
// `ranks[i]`; hosts[0] is rank 0's) saying what it has, then a PROBLEM row for each way a host
// differs from rank 0's in what must be the same everywhere (LibTorch, the BLAS, MPI, the
// config) and for each problem it found. Pure.
std::vector<PreflightRow> compareHosts(const std::vector<HostFacts>& hosts,
                                       const std::vector<std::vector<int>>& ranks);

// "eleanor-dist 0.1.0 (binary 0123456789abcdef)": the version and a hash of the running worker
// binary (a rebuild of the same version differs). Reads the binary.
std::string buildIdentity();

// buildIdentity() and the libraries that compute (LibTorch, the BLAS) and communicate (MPI), in
// one line: what the ranks of a run compare at start-up (main.cpp warns where they differ).
// Never throws (what it cannot learn it says is unknown).
std::string buildAndLibraries();

// "0-3,5,8-9": ranks in increasing order, runs as ranges.
std::string rankListText(const std::vector<int>& ranks);

}  // namespace eleanor
