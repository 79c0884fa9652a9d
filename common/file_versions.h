// What every rank reads for itself must be the same on every rank. Every rank opens the shared
// input files itself (the corpus's embeddings.npy and meta.jsonl; the cases' files are compared
// with rank 0's listing as each rank opens them, input_files.h) and reads its own part of them. If
// a file changed between the ranks' opens (it was still being written, or replaced: a corpus
// rebuilt while the job started), the ranks would split different files: lines lost or read twice,
// shards of two corpora. So after opening, the ranks compare each file's size and stop, naming the
// file and the ranks, when they differ. Not the modification time: ranks on several nodes may read
// their own node's copy (staged to local scratch), identical but copied at different times. A file
// replaced by another of exactly the same size passes.
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
// the first file whose size differs between ranks (rank 0's size and modification time against
// up to three others', with their hosts) and what to do; nothing when every rank opened every
// file at the same size. The same result on every rank.
std::optional<std::string> differingFileVersions(Communicator& comm,
                                                 const std::vector<StampedFile>& files);

// Collective: nothing when every rank's `mine` (the identity of something each rank loaded
// itself: a hash, a model's signature) equals rank 0's; else rank 0's and up to three differing
// ranks' values with their hosts ("rank 0 (host): v; rank 2 (host): w"), for a message.
std::optional<std::string> ranksThatDiffer(Communicator& comm, const std::string& mine);

// Collective: the same for the settings each rank loaded from its config files (`hash`: of the
// effective settings; `configFile`: the job config's path). Different settings (config files
// that differ between nodes, or changed while the ranks read them) would make the ranks disagree
// on batch sizes and collectives, or decide cases differently.
std::optional<std::string> differingSettings(Communicator& comm, const std::string& hash,
                                             const std::string& configFile);

// The error for ranks whose models (embedder, critics' rules and heads) differ by content;
// `seen` is ranksThatDiffer's description.
std::string differentModelsMessage(const std::string& seen);

}  // namespace eleanor
