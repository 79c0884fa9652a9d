// The files a job reads as its input. `job.input` (and `index --input`) names a file, a folder
// (its *.jsonl, *.ndjson and *.json files), a glob pattern ("cases/part-*.jsonl"), or a list
// of those; the files are read as one input, in the order listed, a folder's and a pattern's
// files in byte order of their names (zero-padded numbers sort as numbers). Data pipelines
// write their output as many part files: the job reads them where they are, and every rank
// still reads only its byte range of the whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/communicator.h"
#include "common/mapped_file.h"

namespace eleanor {

// The files `entries` name, expanded: a folder to its JSON lines files (*.jsonl, *.ndjson,
// *.json, each also .gz or .zst; hidden files and names starting with '_', such as Spark's
// _SUCCESS, left out; other files and folders left out with a warning; not recursive: the
// warning, or the refusal where it holds no file, gives the pattern that reads its folders' files),
// a pattern with *, ? or [ to its matching files (unless a file has that very name). A plain path
// that does not exist is kept, so that opening it gives the usual error. Throws UserError naming
// `setting` for a pattern that matches no file, a folder without JSON lines files, no entry at all,
// or one file listed twice (by identity: links and other spellings included), whose lines would be
// read twice. The same on every rank that sees the same files.
std::vector<std::string> expandInputs(const std::vector<std::string>& entries,
                                      std::string_view setting);

// The input's files with their sizes and modification times, as one process found them.
struct InputListing {
  std::vector<std::string> paths;
  std::vector<FileStamp> stamps;
  int64_t bytes() const;
};

// expandInputs, then stat(2) of each file. Throws UserError as expandInputs does, and for a
// file that cannot be read or is not a regular file (a pipe, a device: MappedFile's message),
// naming `setting`.
InputListing listInputs(const std::vector<std::string>& entries, std::string_view setting);

// Collective: rank 0 lists the input (listInputs) and every rank receives that listing, so that
// the file system's metadata server answers one process, not every rank (a folder of 100,000
// part files on 1,000 ranks would be 10^8 stats), and the ranks split one list of files of one
// set of sizes. A failure is agreed (runAgreed, stage `stage`): every rank throws it.
InputListing shareInputListing(Communicator& comm, const std::string& stage,
                               const std::vector<std::string>& entries, std::string_view setting);

// The entries as a user wrote them, for messages: "a.jsonl", or "[a.jsonl, parts/]".
std::string inputsText(const std::vector<std::string>& entries);

}  // namespace eleanor
