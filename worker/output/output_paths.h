// An output folder must not be where the job's own inputs live under a name it writes: a run
// whose job.output is its corpus folder would replace the corpus's errors.jsonl (the record of
// the precedents `index` refused) with its own; a run reading `out/results.jsonl` into `out/`
// (chained jobs) would replace its input at the end; an index build reading `corpus/meta.jsonl`
// into `corpus/` likewise. Each is refused at start-up, naming both settings. Paths are compared
// by identity (device and inode: symlinks, hard links, "a/../a" and relative spellings are the
// same file); the input and the corpus must exist, so a new output folder collides with
// nothing.
#pragma once

#include <string>
#include <vector>

namespace eleanor {

// Throws UserError when job.output (`output`) is the corpus folder (`precedents`) or would
// overwrite one of the input files (`inputs`, expanded: input_files.h).
void checkRunOutputFolder(const std::vector<std::string>& inputs, const std::string& precedents,
                          const std::string& output);

// Throws UserError when index's --out (`output`) would overwrite one of its --input files.
void checkIndexOutputFolder(const std::vector<std::string>& inputs, const std::string& output);

}  // namespace eleanor
