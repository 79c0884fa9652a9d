// ResultSpool: rank 0's staging of results while rounds arrive out of input order. Lines from
// source rank r go to their own spool file; commit() concatenates the spools in rank order
// (which is input order: ranks own increasing line ranges) into results.jsonl and errors.jsonl,
// each written to a temporary name, flushed to disk and renamed, so a reader never sees a
// partial file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace eleanor {

class ResultSpool {
 public:
  // Creates `outputDir` (and its staging folder) and checks that it can be written; throws
  // UserError naming the folder and the reason otherwise.
  ResultSpool(std::string outputDir, int worldSize);

  // Appends lines (each without '\n') from `sourceRank`.
  void append(int sourceRank, const std::vector<std::string>& results,
              const std::vector<std::string>& errors);

  // Writes results.jsonl and errors.jsonl atomically and removes the staging folder.
  void commit();

  // Writes `text` to outputDir/name atomically (temp file, fsync, rename).
  void writeFile(const std::string& name, std::string_view text) const;

  const std::string& outputDir() const { return outputDir_; }

 private:
  std::string spoolPath(int rank, const char* kind) const;
  void concatenate(const char* kind, const std::string& finalName) const;

  std::string outputDir_;
  std::string stagingDir_;
  int worldSize_;
};

}  // namespace eleanor
