// doctor's checks of the other hosts (worker/host_check.h): rank 0's file list (the input
// sampled evenly, first and last included; the corpus's shape), each file's problems as another
// host sees it, and the rows comparing hosts: each shared fact that differs from rank 0's host
// is one PROBLEM naming both values, a host that matches is one row and no problem.
#include "worker/host_check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/npy.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

class HostCheckTest : public ScratchDirTest {
 protected:
  // A corpus folder of `rows` x `dim` zero rows and a config reading `inputs` against it.
  JobConfig config(const std::vector<std::string>& inputs, int64_t rows = 5, int64_t dim = 4) {
    write("corpus/embeddings.npy",
          npyHeaderBytes(rows, dim) + std::string(static_cast<size_t>(rows * dim * 4), '\0'));
    std::string meta;
    for (int64_t r = 0; r < rows; ++r) meta += "{}\n";
    write("corpus/meta.jsonl", meta);
    JobConfig c;
    c.job.input = inputs;
    c.job.precedents = path("corpus");
    c.hash = "0123";
    return c;
  }
};

HostFacts sameHost(const std::string& name) {
  HostFacts facts;
  facts.host = name;
  facts.torch = "1.13.0";
  facts.blas = "/usr/lib/libopenblasp-r0.3.21.so";
  facts.blasOptimized = true;
  facts.mpi = "Open MPI v4.1.4";
  facts.cores = 2;
  facts.memoryBytes = int64_t{8} << 30;
  facts.memorySource = "MemAvailable";
  facts.configHash = "0123";
  return facts;
}

std::vector<std::string> problemsOf(const std::vector<PreflightRow>& rows) {
  std::vector<std::string> problems;
  for (const auto& row : rows)
    if (row.problem) problems.push_back(row.what + " | " + row.value);
  return problems;
}

TEST(HostCheck, RankListsAreRuns) {
  EXPECT_EQ(rankListText({}), "");
  EXPECT_EQ(rankListText({0}), "0");
  EXPECT_EQ(rankListText({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(rankListText({0, 2, 3, 5, 7, 8, 9}), "0,2-3,5,7-9");
}

TEST_F(HostCheckTest, InputFilesAreSampledEvenlyWithTheFirstAndLast) {
  for (int i = 0; i < 10; ++i)
    write(fmt::format("parts/part-{:02}.jsonl", i), std::string(static_cast<size_t>(i + 1), '\n'));
  for (size_t limit : {1, 2, 3, 4, 9, 10, 50}) {
    const JobFiles files = jobFilesOf(config({path("parts")}), limit);
    EXPECT_EQ(files.inputFiles, 10);
    std::vector<JobFile> inputs;
    for (const auto& file : files.files)
      if (file.setting == "job.input") inputs.push_back(file);
    ASSERT_EQ(inputs.size(), std::min<size_t>(std::max<size_t>(limit, 2), 10)) << limit;
    EXPECT_EQ(inputs.front().path, path("parts/part-00.jsonl")) << limit;
    EXPECT_EQ(inputs.back().path, path("parts/part-09.jsonl")) << limit;
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(inputs[i].bytes,
                std::stoi(inputs[i].path.substr(inputs[i].path.size() - 8, 2)) + 1);
      if (i > 0) {
        EXPECT_LT(inputs[i - 1].path, inputs[i].path) << limit;  // each once, in order
      }
    }
  }
  const JobFiles files = jobFilesOf(config({path("parts")}, 7, 3));
  EXPECT_EQ(files.corpusRows, 7);
  EXPECT_EQ(files.corpusDim, 3);
  ASSERT_EQ(files.files.size(), 12u);
  EXPECT_EQ(files.files[10].path, path("corpus/embeddings.npy"));
  EXPECT_EQ(files.files[10].bytes, static_cast<int64_t>(npyHeaderBytes(7, 3).size()) + 7 * 3 * 4);
  EXPECT_EQ(files.files[11].path, path("corpus/meta.jsonl"));
  EXPECT_EQ(jobFilesFromJson(jobFilesJson(files)).files.size(), 12u);
}

TEST_F(HostCheckTest, FilesRankZeroCannotSeeAreLeftToItsOwnRows) {
  JobConfig c = config({path("missing.jsonl")});
  c.embedder.type = "torchscript";
  c.embedder.model = write("model.pt", "model");
  c.embedder.vocab = path("no-vocab.txt");
  c.critics.models.push_back({"rights", path("no-head.pt")});
  const JobFiles files = jobFilesOf(c);
  EXPECT_EQ(files.inputFiles, 1);  // listed, but rank 0 cannot stat it: not in files
  std::vector<std::string> settings;
  for (const auto& file : files.files) settings.push_back(file.setting);
  EXPECT_EQ(settings,
            (std::vector<std::string>{"job.precedents", "job.precedents", "embedder.model"}));
  EXPECT_TRUE(jobFileProblems(files).empty());
}

TEST_F(HostCheckTest, AnotherHostSeesMissingChangedAndUnreadableFiles) {
  const std::string a = write("in/a.jsonl", "{}\n{}\n");
  const std::string b = write("in/b.jsonl", "{}\n");
  const JobFiles files = jobFilesOf(config({path("in")}));
  EXPECT_TRUE(jobFileProblems(files).empty());

  std::filesystem::remove(a);
  write("in/b.jsonl", "{}\n{}\n{}\n");  // another copy, longer
  auto problems = jobFileProblems(files);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].rfind(fmt::format("cannot see '{}' (job.input) here: No such file", a), 0),
            0u)
      << problems[0];
  EXPECT_EQ(problems[1].rfind(
                fmt::format("'{}' (job.input) has 9 bytes here but 3 on rank 0's host: ", b), 0),
            0u)
      << problems[1];
  EXPECT_NE(problems[1].find("a file system every node mounts at the same path"),
            std::string::npos);

  std::filesystem::remove(b);
  std::filesystem::create_directories(b);  // a folder where the file was
  std::filesystem::remove_all(path("corpus"));
  problems = jobFileProblems(files, 2);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[1], fmt::format("'{}' (job.input) is not a regular file here", b));
  EXPECT_EQ(problems[2].rfind("and 2 more of rank 0's files differ or are missing here: ", 0), 0u)
      << problems[2];
}

TEST(HostCheck, HostsThatMatchRankZerosGiveOneRowEachAndNoProblem) {
  const auto rows =
      compareHosts({sameHost("n1"), sameHost("n2"), sameHost("n3")}, {{0, 1}, {2, 3, 4}, {5}});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(problemsOf(rows).empty());
  EXPECT_EQ(rows[0].what, "host n1");
  EXPECT_EQ(rows[0].value,
            "rank(s) 0-1: 2 cores, 8.00 GiB available (MemAvailable), no GPU (rank 0's host: the "
            "others are compared with it)");
  EXPECT_EQ(rows[1].value, "rank(s) 2-4: 2 cores, 8.00 GiB available (MemAvailable), no GPU");
  EXPECT_TRUE(compareHosts({}, {}).empty());
}

TEST(HostCheck, EachSharedFactThatDiffersIsOneProblemNamingBothValues) {
  struct Case {
    std::string HostFacts::*field;
    const char* name;
  };
  const Case cases[] = {{&HostFacts::torch, "LibTorch"},
                        {&HostFacts::blas, "BLAS library"},
                        {&HostFacts::mpi, "MPI library"}};
  std::mt19937 random(7);
  for (int trial = 0; trial < 20; ++trial) {
    const Case& which = cases[random() % 3];
    const int hosts = 2 + static_cast<int>(random() % 3);
    const int odd = 1 + static_cast<int>(random() % static_cast<unsigned>(hosts - 1));
    std::vector<HostFacts> facts;
    std::vector<std::vector<int>> ranks;
    for (int h = 0; h < hosts; ++h) {
      facts.push_back(sameHost(fmt::format("n{}", h)));
      ranks.push_back({h});
    }
    facts[odd].*which.field = "other";
    const auto problems = problemsOf(compareHosts(facts, ranks));
    ASSERT_EQ(problems.size(), 1u) << "trial " << trial << " " << which.name;
    const std::string want =
        fmt::format("host n{} | PROBLEM: {} here is 'other', on n0 (rank 0's) '{}'", odd,
                    which.name, sameHost("n0").*which.field);
    EXPECT_EQ(problems[0].rfind(want, 0), 0u) << problems[0] << "\nwanted " << want;
  }
}

TEST(HostCheck, ReferenceBlasConfigAndOwnProblemsAreProblems) {
  std::vector<HostFacts> facts{sameHost("n0"), sameHost("n1"), sameHost("n2"), sameHost("n3")};
  facts[1].blasOptimized = false;
  facts[2].configHash = "";
  facts[2].configProblem = "config file 'x.yaml' does not exist";
  facts[3].configHash = "4567";
  facts[3].problems = {"cannot see 'a' (job.input) here", "the shard does not fit"};
  const auto problems = problemsOf(compareHosts(facts, {{0}, {1}, {2}, {3}}));
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_EQ(problems[0].rfind("host n1 | PROBLEM: the BLAS here (/usr/lib/libopenblasp-r0.3.21.so) "
                              "is not an optimised one",
                              0),
            0u)
      << problems[0];
  EXPECT_EQ(problems[1],
            "host n2 | PROBLEM: the config does not load here: config file 'x.yaml' does not "
            "exist");
  EXPECT_EQ(problems[2].rfind("host n3 | PROBLEM: the config loads here with other settings "
                              "(hash 4567, rank 0's 0123)",
                              0),
            0u)
      << problems[2];
  EXPECT_EQ(problems[3], "host n3 | PROBLEM: cannot see 'a' (job.input) here");
  EXPECT_EQ(problems[4], "host n3 | PROBLEM: the shard does not fit");
}

TEST(HostCheck, FactsCrossTheWireWhole) {
  HostFacts facts = sameHost("n1");
  facts.gpus = {"NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90, PCI 0000:17:00.0"};
  facts.problems = {"p1", "p2"};
  facts.configProblem = "why";
  const HostFacts back = hostFactsFromJson(hostFactsJson(facts));
  EXPECT_EQ(hostFactsJson(back), hostFactsJson(facts));
  EXPECT_EQ(back.gpus, facts.gpus);
  EXPECT_EQ(back.memoryBytes, facts.memoryBytes);
}

TEST_F(HostCheckTest, ThisHostChecksRankZerosFilesOnlyWhenAsked) {
  write("in/a.jsonl", "{}\n");
  JobConfig c = config({path("in")});
  JobFiles files = jobFilesOf(c);
  files.files.front().bytes = 99;  // as if rank 0 saw another copy
  const HostFacts unchecked = collectHostFacts(&c, "", files, 1, 1, false);
  EXPECT_TRUE(unchecked.problems.empty());
  EXPECT_EQ(unchecked.configHash, "0123");
  EXPECT_FALSE(unchecked.torch.empty());
  EXPECT_EQ(buildIdentity().rfind("eleanor-dist ", 0), 0u) << buildIdentity();
  EXPECT_NE(buildIdentity().find(" (binary "), std::string::npos) << buildIdentity();
  EXPECT_EQ(buildIdentity(), buildIdentity());
  EXPECT_NE(buildAndLibraries().find(", LibTorch " + unchecked.torch + ", BLAS "),
            std::string::npos)
      << buildAndLibraries();
  EXPECT_GT(unchecked.cores, 0);
  const HostFacts checked = collectHostFacts(&c, "", files, 1, 1, true);
  ASSERT_EQ(checked.problems.size(), 1u);
  EXPECT_NE(checked.problems[0].find("has 3 bytes here but 99 on rank 0's host"), std::string::npos)
      << checked.problems[0];
  const HostFacts broken = collectHostFacts(nullptr, "no config", files, 1, 1, true);
  EXPECT_EQ(broken.configProblem, "no config");
  EXPECT_TRUE(broken.problems.empty());
}

}  // namespace
}  // namespace eleanor
