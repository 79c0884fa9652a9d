// Every rank opens the shared input files itself (the cases, the corpus's embeddings.npy and
// meta.jsonl) and reads its own part of them. If a file changed between the ranks' opens (it was
// still being written, or replaced: a corpus rebuilt while the job started), the ranks would
// split different files: lines lost or read twice, shards of two corpora. So after opening, the
// ranks compare each file's size and modification time and stop, naming the file and the ranks,
// when they differ.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/communicator.h"
#include "common/mapped_file.h"

namespace eleanor {

struct StampedFile {
  std::string path;
  std::string setting;  // where the path came from: "job.input", "job.precedents", "--input"
  FileStamp stamp;
};

// Collective: every rank must call, with the same files in the same order. The message naming
// the first file whose stamp differs between ranks (rank 0's against up to three others, with
// their hosts) and what to do; nothing when every rank opened the same version of every file.
// The same result on every rank.
std::optional<std::string> differingFileVersions(Communicator& comm,
                                                 const std::vector<StampedFile>& files);

}  // namespace eleanor
