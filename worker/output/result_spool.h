// ResultSpool: rank 0's staging of results while rounds arrive out of input order. Lines from
// source rank r go to their own spool file in <output>/.eleanor-partial/; commit()
// concatenates the spools in rank order (which is input order: ranks own increasing line
// ranges) into results.jsonl and errors.jsonl, each written to a temporary name, flushed to
// disk and renamed, so a reader never sees a partial file. Between commits the spools and a
// checkpoint beside them let a killed job resume (worker/output/checkpoint.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eleanor {

// <outputDir>/.eleanor-partial: where a run stages its rounds and checkpoints.
std::string stagingDirOf(const std::string& outputDir);

class ResultSpool {
 public:
  // Creates `outputDir` and a fresh staging folder (discarding an unfinished run's), or, with
  // `resume`, reopens the existing one. Throws UserError naming the folder and the reason.
  ResultSpool(std::string outputDir, int worldSize, bool resume);

  // Appends lines (each without '\n') from `sourceRank`.
  void append(int sourceRank, const std::vector<std::string>& results,
              const std::vector<std::string>& errors);
  // Appends text blocks of whole lines (each ending in '\n') from `sourceRank`.
  void appendText(int sourceRank, std::string_view results, std::string_view errors);

  // Bytes in each rank's results and errors spool, and flushing them to disk.
  std::vector<int64_t> sizes(const char* kind) const;
  void sync() const;
  // Cuts the spools back to sizes a checkpoint recorded (lines written after it go).
  void truncate(const std::vector<int64_t>& results, const std::vector<int64_t>& errors) const;

  // Writes results.jsonl and errors.jsonl atomically and removes the staging folder.
  void commit();

  // Writes errors.jsonl only (a job stopped by job.max_errors), keeping the staging folder.
  void commitErrorsOnly() const;

  // Writes `text` to outputDir/name atomically (temp file, fsync, rename).
  void writeFile(const std::string& name, std::string_view text) const;

  const std::string& outputDir() const { return outputDir_; }
  const std::string& stagingDir() const { return stagingDir_; }

 private:
  std::string spoolPath(int rank, const char* kind) const;
  void concatenate(const char* kind, const std::string& finalName) const;

  std::string outputDir_;
  std::string stagingDir_;
  int worldSize_;
};

}  // namespace eleanor
