// checkRunOutputFolder / checkIndexOutputFolder: an output folder that is the corpus, or that
// would overwrite the input under one of the names the job writes, is refused however the paths
// are spelled (relative, "a/../a", a symlink, a hard link); every other
// arrangement (the input beside the results, the output inside the corpus folder, an existing
// results.jsonl of another run) is accepted.
#include "worker/output/output_paths.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

class OutputPaths : public ScratchDirTest {};

TEST_F(OutputPaths, ARunWritingIntoItsCorpusFolderIsRefused) {
  const std::string input = write("cases.jsonl", "{}\n");
  const std::string corpus = path("corpus");
  std::filesystem::create_directories(corpus);
  std::string reason = refusal([&] { checkRunOutputFolder({input}, corpus, corpus); });
  EXPECT_NE(reason.find("job.output '" + corpus + "' is the corpus folder (job.precedents)"),
            std::string::npos)
      << reason;
  // Spelled another way or through a symlink: the same folder.
  EXPECT_THROW(checkRunOutputFolder({input}, corpus, path("corpus") + "/../corpus/"), UserError);
  std::filesystem::create_directory_symlink(corpus, dir_ / "link");
  EXPECT_THROW(checkRunOutputFolder({input}, path("link"), corpus), UserError);
  // A folder inside the corpus or beside it is another folder.
  EXPECT_NO_THROW(checkRunOutputFolder({input}, corpus, path("corpus/run1")));
  EXPECT_NO_THROW(checkRunOutputFolder({input}, corpus, path("out")));
}

TEST_F(OutputPaths, ARunWhoseInputIsAFileItWritesIsRefused) {
  const std::string corpus = path("corpus");
  for (const char* name : {"results.jsonl", "errors.jsonl", "report.json"}) {
    SCOPED_TRACE(name);
    const std::string input = write(std::string("prev/") + name, "{}\n");
    const std::string reason =
        refusal([&] { checkRunOutputFolder({input}, corpus, path("prev")); });
    EXPECT_NE(reason.find(fmt::format("job.input '{}' is the {} this job writes", input, name)),
              std::string::npos)
        << reason;
    // Relative to the working directory, the same file.
    const std::string relative =
        std::filesystem::relative(path("prev"), std::filesystem::current_path()).string();
    EXPECT_THROW(checkRunOutputFolder({input}, corpus, relative), UserError);
  }
  // Its temporary name is replaced too; a case file beside last run's results is not.
  EXPECT_THROW(checkRunOutputFolder({write("t/results.jsonl.tmp", "")}, corpus, path("t")),
               UserError);
  write("prev2/results.jsonl", "{}\n");
  EXPECT_NO_THROW(
      checkRunOutputFolder({write("prev2/cases.jsonl", "{}\n")}, corpus, path("prev2")));
  EXPECT_NO_THROW(checkRunOutputFolder({path("prev/results.jsonl")}, corpus, path("next")));
}

TEST_F(OutputPaths, AnIndexWhoseInputIsAFileItWritesIsRefused) {
  for (const char* name : {"embeddings.npy", "meta.jsonl", "errors.jsonl", "index.json"}) {
    SCOPED_TRACE(name);
    const std::string input = write(std::string("corpus/") + name, "{}\n");
    const std::string reason = refusal([&] { checkIndexOutputFolder({input}, path("corpus")); });
    EXPECT_NE(reason.find(fmt::format("--input '{}' is the {} this build writes", input, name)),
              std::string::npos)
        << reason;
  }
  // A hard link is the same file under another name.
  std::filesystem::create_hard_link(path("corpus/meta.jsonl"), dir_ / "precedents.jsonl");
  EXPECT_NO_THROW(checkIndexOutputFolder({path("precedents.jsonl")}, path("other")));
  std::filesystem::create_directories(dir_ / "c2");
  std::filesystem::create_hard_link(path("precedents.jsonl"), dir_ / "c2" / "meta.jsonl");
  EXPECT_THROW(checkIndexOutputFolder({path("precedents.jsonl")}, path("c2")), UserError);
  EXPECT_NO_THROW(checkIndexOutputFolder({write("p.jsonl", "{}\n")}, path("c3")));
}

}  // namespace
}  // namespace eleanor
