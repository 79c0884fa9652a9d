// What a run of a config would meet in its files, checked without running it (for `doctor`, so
// that a job queued for hours does not stop at start-up): the input, the corpus and the output
// folder, each a row of the doctor's table with a PROBLEM where the run would stop. Local; reads
// file headers (and counts meta.jsonl's lines), starts nothing and creates nothing.
#pragma once

#include <string>
#include <vector>

#include "worker/job_config.h"

namespace eleanor {

struct PreflightRow {
  std::string what;   // "input", "corpus", "output"
  std::string value;  // what was found, or what is wrong and what to do
  bool problem = false;
};

std::vector<PreflightRow> preflightJobFiles(const JobConfig& config);

}  // namespace eleanor
