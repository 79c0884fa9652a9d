// The staging of an `index` build, in <out>/.eleanor-index-partial/, so that a build stopped
// (SIGUSR1, a time limit) or killed goes on where it was instead of embedding everything again.
// Each rank appends what it finished to its own three files (rows: float32, D a row; meta.jsonl
// lines; errors.jsonl lines) and now and then commits them: it flushes them to disk and writes
// its own checkpoint (rank-R.json: the lines of its range done, rows, bytes), so the ranks need
// no collective to commit. Rank 0 writes build.json (input, settings, world size) when a build
// starts; a resume must match it. The finished build copies each rank's files into the corpus
// at their offsets and removes the folder.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace eleanor {

// What a build's output depends on; a resume must match all three.
struct IndexBuildIdentity {
  std::string input;     // inputIdentity of the precedents JSONL
  std::string settings;  // hash of the embedder (its signature, device, dtype) and line limit
  int worldSize = 0;
};

// What one rank has appended (or, after a resume, committed).
struct IndexRankProgress {
  int64_t lines = 0;  // lines of the rank's range done, blank ones included
  int64_t rows = 0;
  int64_t metaBytes = 0;
  int64_t errorBytes = 0;
  int64_t errors = 0;  // error lines
};

std::string indexStagingDirOf(const std::string& outputDir);

// Rank 0, when a build starts afresh: creates `stagingDir`, discarding an unfinished build's
// files, and writes build.json. Throws UserError naming the folder.
void startIndexStaging(const std::string& stagingDir, const IndexBuildIdentity& identity);
// Whether `stagingDir` holds an unfinished build (its build.json).
bool hasIndexStaging(const std::string& stagingDir);
// Throws UserError when there is no build.json or it cannot be read.
IndexBuildIdentity readIndexBuildIdentity(const std::string& stagingDir);
// Why a build with `current` cannot resume `saved` ("" when it can).
std::string indexResumeRefusal(const IndexBuildIdentity& saved, const IndexBuildIdentity& current);

// One rank's three staging files, open for appending. Not copyable.
class IndexSpool {
 public:
  // Creates the rank's files empty, or, with `resume`, cuts them back to what its checkpoint
  // says was committed (no checkpoint: the rank had committed nothing). Throws UserError naming
  // the file when one that holds committed bytes is missing or shorter than its checkpoint.
  IndexSpool(std::string stagingDir, int rank, int64_t dim, bool resume);
  ~IndexSpool();
  IndexSpool(const IndexSpool&) = delete;
  IndexSpool& operator=(const IndexSpool&) = delete;

  // Appends a finished block of `lines` lines: rows (row-major, dim floats each), their meta
  // lines and the block's error lines (each text of whole lines ending in '\n').
  void append(int64_t lines, std::span<const float> rows, std::string_view meta,
              std::string_view errors, int64_t errorCount);
  // Flushes the files to disk and writes the rank's checkpoint: what append() added is kept
  // by a resume from here on.
  void commit();

  const IndexRankProgress& progress() const { return progress_; }
  // What progress() counts of the three files together.
  int64_t stagedBytes() const { return bytesOf("rows") + bytesOf("meta") + bytesOf("errors"); }
  // Bytes [0, progress().metaBytes) etc. of a file ("rows", "meta", "errors") into `target` at
  // `offset` (a file that exists), flushed to disk.
  void copyInto(const char* kind, const std::string& target, int64_t offset) const;
  // The whole of a file (the errors, for rank 0's errors.jsonl).
  std::string read(const char* kind) const;
  std::string path(const char* kind) const;

 private:
  int64_t bytesOf(const char* kind) const;  // what progress() counts of a file

  std::string stagingDir_;
  int rank_;
  int64_t dim_;
  int rowsFd_ = -1, metaFd_ = -1, errorsFd_ = -1;
  IndexRankProgress progress_;
};

}  // namespace eleanor
