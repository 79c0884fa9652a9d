// YamlReader and config files: every supported type reads; a wrong type or an unknown key is a
// UserError "FILE:LINE: key 'a.b': ..." with the exact line (or "--set a.b" for an override);
// setYamlPath creates, replaces and parses flow lists; effective() holds defaults and values;
// loadConfigSource finds gpu_config beside the config, routes `gpu.` overrides, and names the
// file and line of every problem.
#include "common/yaml_reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config_file.h"
#include "common/error.h"
#include "common/gpu_config.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

namespace fs = std::filesystem;

const char* kFile = "cfg.yaml";

// The message of the UserError `action` throws ("" when it throws none).
template <class F>
std::string userError(F&& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

std::shared_ptr<const std::set<std::string>> overrides(std::set<std::string> paths) {
  return std::make_shared<const std::set<std::string>>(std::move(paths));
}

// ---- reading values ----

const char* kTypes =
    "flag: true\n"                        // 1
    "count: 42\n"                         // 2
    "big: 1099511627776\n"                // 3
    "ratio: 0.25\n"                       // 4
    "name: hello world\n"                 // 5
    "ints: [1, -2, 3]\n"                  // 6
    "names: [a, 'b c']\n"                 // 7
    "ratios: [0.5, 1]\n"                  // 8
    "flags: [true, false]\n"              // 9
    "bigs: [1099511627776]\n"             // 10
    "assign: {embedder: 0, critic: 1}\n"  // 11
    "nulled:\n"                           // 12
    "tilde: ~\n";                         // 13

TEST(YamlReader, ReadsEverySupportedType) {
  YamlReader r(YAML::Load(kTypes), kFile);
  bool flag = false;
  int count = 0;
  int64_t big = 0;
  double ratio = 0;
  std::string name;
  std::vector<int> ints;
  std::vector<std::string> names;
  std::vector<double> ratios;
  std::vector<bool> flags;
  std::vector<int64_t> bigs;
  std::map<std::string, int> assign;
  int nulled = 7;
  std::string tilde = "default";
  int absent = 9;
  r.read("flag", flag);
  r.read("count", count);
  r.read("big", big);
  r.read("ratio", ratio);
  r.read("name", name);
  r.read("ints", ints);
  r.read("names", names);
  r.read("ratios", ratios);
  r.read("flags", flags);
  r.read("bigs", bigs);
  r.read("assign", assign);
  r.read("nulled", nulled);
  r.read("tilde", tilde);
  r.read("absent", absent);
  EXPECT_TRUE(flag);
  EXPECT_EQ(count, 42);
  EXPECT_EQ(big, int64_t{1} << 40);
  EXPECT_EQ(ratio, 0.25);
  EXPECT_EQ(name, "hello world");
  EXPECT_EQ(ints, (std::vector<int>{1, -2, 3}));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(ratios, (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(flags, (std::vector<bool>{true, false}));
  EXPECT_EQ(bigs, (std::vector<int64_t>{int64_t{1} << 40}));
  EXPECT_EQ(assign, (std::map<std::string, int>{{"embedder", 0}, {"critic", 1}}));
  EXPECT_EQ(nulled, 7) << "a key with no value keeps the default";
  EXPECT_EQ(tilde, "default") << "a null (~) keeps the default";
  EXPECT_EQ(absent, 9);
  EXPECT_TRUE(r.has("flag"));
  EXPECT_FALSE(r.has("absent"));
  EXPECT_NO_THROW(r.finish());
}

TEST(YamlReader, NullAndAbsentNodesAreEmptySections) {
  for (const YAML::Node& node : {YAML::Node(), YAML::Load("~")}) {
    YamlReader r(node, kFile, "gpu");
    int value = 3;
    r.read("x", value);
    EXPECT_EQ(value, 3);
    EXPECT_TRUE(r.keys().empty());
    EXPECT_NO_THROW(r.finish());
  }
}

TEST(YamlReader, KeysInFileOrder) {
  YamlReader r(YAML::Load("zeta: 1\nalpha: 2\nmid: 3\n"), kFile);
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"zeta", "alpha", "mid"}));
}

// ---- wrong types: the exact line ----

const char* kWrong =
    "job:\n"                     // 1
    "  top_k: ten\n"             // 2
    "  ratio: fast\n"            // 3
    "  name: [a, b]\n"           // 4
    "  list: 5\n"                // 5
    "  nums: [1, x, 3]\n"        // 6
    "  flag: maybe\n"            // 7
    "  assign: [1]\n"            // 8
    "  assign2: {a: 1, b: z}\n"  // 9
    "  count: 1.5\n"             // 10
    "  nested:\n"                // 11
    "    x: 1\n"                 // 12
    "  huge: 1099511627776\n"    // 13
    "  section: 5\n"             // 14
    "  assign3: {a: -1}\n";      // 15

template <class T>
std::string wrongTypeError(const std::string& key) {
  YamlReader root(YAML::Load(kWrong), kFile);
  YamlReader job = root.child("job");
  T value{};
  return userError([&] { job.read(key, value); });
}

TEST(YamlReader, WrongTypesNameFileLineAndKeyPath) {
  EXPECT_EQ(wrongTypeError<int>("top_k"),
            "cfg.yaml:2: key 'job.top_k': expected an integer, got 'ten'");
  EXPECT_EQ(wrongTypeError<double>("ratio"),
            "cfg.yaml:3: key 'job.ratio': expected a number, got 'fast'");
  EXPECT_EQ(wrongTypeError<std::string>("name"), "cfg.yaml:4: key 'job.name': expected a string");
  EXPECT_EQ(wrongTypeError<std::vector<std::string>>("list"),
            "cfg.yaml:5: key 'job.list': expected a list, e.g. [a, b]");
  EXPECT_EQ(wrongTypeError<std::vector<int>>("nums"),
            "cfg.yaml:6: key 'job.nums[1]': expected an integer, got 'x'");
  EXPECT_EQ(wrongTypeError<bool>("flag"),
            "cfg.yaml:7: key 'job.flag': expected true or false, got 'maybe'");
  EXPECT_EQ((wrongTypeError<std::map<std::string, int>>("assign")),
            "cfg.yaml:8: key 'job.assign': expected a mapping of names to integers");
  EXPECT_EQ((wrongTypeError<std::map<std::string, int>>("assign2")),
            "cfg.yaml:9: key 'job.assign2.b': expected an integer, got 'z'");
  EXPECT_EQ(wrongTypeError<int>("count"),
            "cfg.yaml:10: key 'job.count': expected an integer, got '1.5'");
  EXPECT_EQ(wrongTypeError<int>("huge"),
            "cfg.yaml:13: key 'job.huge': expected an integer, got '1099511627776'");
  EXPECT_EQ(wrongTypeError<int64_t>("count"),
            "cfg.yaml:10: key 'job.count': expected an integer, got '1.5'");
}

TEST(YamlReader, AMappingWhereAValueBelongsNamesTheKeyOrItsValuesLine) {
  // The key is on line 11; its value (a block mapping) starts on line 12. Either line leads the
  // reader to the mistake (the reader reports where the value starts).
  const std::string message = wrongTypeError<int>("nested");
  EXPECT_TRUE(message == "cfg.yaml:11: key 'job.nested': expected an integer" ||
              message == "cfg.yaml:12: key 'job.nested': expected an integer")
      << message;
}

// A bad element of a block list or block mapping must be reported on its own line: the line of
// the collection's first element (what is reported now) holds a valid value.
const char* kBlock =
    "job:\n"        // 1
    "  nums:\n"     // 2
    "    - 1\n"     // 3
    "    - oops\n"  // 4
    "  assign:\n"   // 5
    "    a: 1\n"    // 6
    "    b: z\n";   // 7

TEST(YamlReader, BadElementOfABlockCollectionNamesItsOwnLine) {
  YamlReader root(YAML::Load(kBlock), kFile);
  YamlReader job = root.child("job");
  std::vector<int> nums;
  std::map<std::string, int> assign;
  EXPECT_EQ(userError([&] { job.read("nums", nums); }),
            "cfg.yaml:4: key 'job.nums[1]': expected an integer, got 'oops'");
  EXPECT_EQ(userError([&] { job.read("assign", assign); }),
            "cfg.yaml:7: key 'job.assign.b': expected an integer, got 'z'");
}

TEST(YamlReader, AScalarWhereASectionBelongsIsAnError) {
  YamlReader root(YAML::Load(kWrong), kFile);
  YamlReader job = root.child("job");
  EXPECT_EQ(userError([&] { job.child("section"); }),
            "cfg.yaml:14: key 'job.section': expected a mapping of keys to values");
  EXPECT_EQ(userError([] { YamlReader(YAML::Load("[1, 2]"), "list.yaml"); }),
            "list.yaml:1: key '<root>': expected a mapping of keys to values");
}

TEST(YamlReader, ReaderStillWorksAfterAFailedRead) {
  YamlReader root(YAML::Load(kWrong), kFile);
  YamlReader job = root.child("job");
  int topK = 5;
  EXPECT_THROW(job.read("top_k", topK), UserError);
  EXPECT_EQ(topK, 5) << "a failed read must leave the default";
  std::map<std::string, int> assign;
  job.read("assign3", assign);
  EXPECT_EQ(assign.at("a"), -1);
}

// ---- unknown keys ----

const char* kTypo =
    "job:\n"           // 1
    "  top_k: 5\n"     // 2
    "  tpo_k: 6\n"     // 3
    "search:\n"        // 4
    "  colour: red\n"  // 5
    "extra:\n"         // 6
    "  a: 1\n";        // 7

TEST(YamlReader, UnknownKeyWithDidYouMean) {
  YamlReader root(YAML::Load(kTypo), kFile);
  YamlReader job = root.child("job");
  int topK = 0, batch = 0;
  job.read("top_k", topK);
  job.read("batch_size", batch);
  EXPECT_EQ(userError([&] { job.finish(); }),
            "cfg.yaml:3: unknown key 'job.tpo_k' (did you mean 'job.top_k'?)");
}

TEST(YamlReader, UnknownKeyFarFromAllListsTheKnownKeys) {
  YamlReader root(YAML::Load(kTypo), kFile);
  YamlReader search = root.child("search");
  int threads = 0;
  int64_t budget = 0;
  search.read("threads", threads);
  search.read("memory_budget_mb", budget);
  EXPECT_EQ(userError([&] { search.finish(); }),
            "cfg.yaml:5: unknown key 'search.colour' (known keys here: memory_budget_mb, threads)");
}

TEST(YamlReader, UnknownSectionAtTheRootAndIgnore) {
  YamlReader root(YAML::Load(kTypo), kFile);
  root.child("job");
  root.child("search");
  EXPECT_EQ(userError([&] { root.finish(); }),
            "cfg.yaml:6: unknown key 'extra' (known keys here: job, search)");
  root.ignore("extra");
  EXPECT_NO_THROW(root.finish());
}

TEST(YamlReader, UnknownKeyInAReaderThatKnowsNothingHasNoHint) {
  YamlReader r(YAML::Load("a: 1\n"), kFile);
  EXPECT_EQ(userError([&] { r.finish(); }), "cfg.yaml:1: unknown key 'a'");
}

// ":" with nothing before it makes a null key. Found by tests/fuzz/fuzz_critic_rules: a rule
// category with no name ended the worker on yaml-cpp's InvalidNode (seed in the fuzz corpus).
TEST(YamlReader, AnEmptyKeyIsAUserError) {
  YamlReader root(YAML::Load("job:\n  top_k: 3\n  : 1\n"), kFile);
  YamlReader job = root.child("job");
  EXPECT_EQ(userError([&] { job.keys(); }),
            "cfg.yaml:3: under 'job': a key is empty; give it a name");
  int topK = 0;
  job.read("top_k", topK);
  EXPECT_EQ(userError([&] { job.finish(); }),
            "cfg.yaml:3: under 'job': a key is empty; give it a name");
}

// YAML allows any node as a key ("? [a, b]: 1"); a config key must be a name. Found by
// tests/fuzz/fuzz_job_config: yaml-cpp's bad-conversion exception escaped finish() and keys().
TEST(YamlReader, ListOrMappingAsAKeyIsAUserError) {
  const char* text =
      "job:\n"                 // 1
      "  top_k: 3\n"           // 2
      "  ? [a, b]\n"           // 3
      "  : 1\n"                // 4
      "? {output: out}\n"      // 5
      "assign: {? [x]: 1}\n";  // 6
  YamlReader root(YAML::Load(text), kFile);
  YamlReader job = root.child("job");
  int topK = 0;
  job.read("top_k", topK);
  EXPECT_EQ(userError([&] { job.finish(); }),
            "cfg.yaml:3: under 'job': a key must be a name, not a list");
  EXPECT_EQ(userError([&] { job.keys(); }),
            "cfg.yaml:3: under 'job': a key must be a name, not a list");
  std::map<std::string, int> assign;
  EXPECT_EQ(userError([&] { root.read("assign", assign); }),
            "cfg.yaml:6: under 'assign': a key must be a name, not a list");
  EXPECT_EQ(userError([&] { root.finish(); }),
            "cfg.yaml:5: under '<root>': a key must be a name, not a mapping");
  // The readers still work.
  EXPECT_EQ(topK, 3);
  int again = 0;
  job.read("top_k", again);
  EXPECT_EQ(again, 3);
}

// ---- --set overrides ----

TEST(YamlSet, ReplacesCreatesNestedKeysAndParsesFlowLists) {
  YAML::Node root = YAML::Load("job:\n  top_k: 5\n  name: x\n");
  setYamlPath(root, "job.top_k", "20");
  setYamlPath(root, "job.ints", "[1, 2]");
  setYamlPath(root, "new.deep.key", "value");
  setYamlPath(root, "job.name", "");
  YamlReader r(root, kFile);
  YamlReader job = r.child("job");
  int topK = 0;
  std::vector<int> ints;
  std::string name = "unchanged";
  job.read("top_k", topK);
  job.read("ints", ints);
  job.read("name", name);
  EXPECT_EQ(topK, 20);
  EXPECT_EQ(ints, (std::vector<int>{1, 2}));
  EXPECT_EQ(name, "") << "--set key= sets an empty string";
  std::string deep;
  YamlReader fresh = r.child("new");
  fresh.child("deep").read("key", deep);
  EXPECT_EQ(deep, "value");
  // Replacing a mapping with a scalar, and a scalar with a mapping.
  setYamlPath(root, "new.deep", "3");
  EXPECT_EQ(root["new"]["deep"].as<int>(), 3);
  setYamlPath(root, "job.name", "{a: 1}");
  EXPECT_TRUE(root["job"]["name"].IsMap());
}

TEST(YamlSet, BadPathsAndValuesAreUserErrors) {
  YAML::Node root = YAML::Load("job:\n  top_k: 5\n");
  EXPECT_EQ(userError([&] { setYamlPath(root, "job.top_k.x", "1"); }),
            "--set job.top_k.x: 'job.top_k' is not a mapping");
  EXPECT_NE(userError([&] { setYamlPath(root, "", "1"); }).find("--set needs KEY=VALUE"),
            std::string::npos);
  EXPECT_EQ(userError([&] { setYamlPath(root, "job..x", "1"); }),
            "--set job..x: empty key in the path");
  EXPECT_NE(userError([&] {
              setYamlPath(root, "job.ints", "[1, 2");
            }).find("--set job.ints=[1, 2: the value is not valid YAML"),
            std::string::npos);
  EXPECT_EQ(root["job"]["top_k"].as<int>(), 5) << "failed sets must not change the tree";
}

TEST(YamlSet, OverriddenKeysAreReportedAsSet) {
  YAML::Node root = YAML::Load("job:\n  top_k: 5\n  other: one\n");
  setYamlPath(root, "job.top_k", "ten");
  setYamlPath(root, "job.ints", "[1, x]");
  setYamlPath(root, "job.tpo_k", "3");
  // "job.oth" is a --set path that merely prefixes "job.other": not the same key.
  const auto set = overrides({"job.top_k", "job.ints", "job.tpo_k", "job.oth"});
  YamlReader r(root, kFile, "", set);
  YamlReader job = r.child("job");
  int topK = 0;
  std::vector<int> ints;
  int other = 0;
  EXPECT_EQ(userError([&] { job.read("top_k", topK); }),
            "--set job.top_k: key 'job.top_k': expected an integer, got 'ten'");
  EXPECT_EQ(userError([&] { job.read("ints", ints); }),
            "--set job.ints: key 'job.ints[1]': expected an integer, got 'x'");
  EXPECT_EQ(userError([&] { job.read("other", other); }),
            "cfg.yaml:3: key 'job.other': expected an integer, got 'one'");
  EXPECT_EQ(userError([&] { job.finish(); }),
            "--set job.tpo_k: unknown key 'job.tpo_k' (did you mean 'job.top_k'?)");
}

TEST(YamlSet, ASectionSetToAScalarIsReportedAsSet) {
  YAML::Node root = YAML::Load("job:\n  top_k: 5\n");
  setYamlPath(root, "job", "5");
  YamlReader r(root, kFile, "", overrides({"job"}));
  EXPECT_EQ(userError([&] { r.child("job"); }),
            "--set job: key 'job': expected a mapping of keys to values");
}

// ---- effective settings ----

TEST(YamlReader, EffectiveHoldsDefaultsAndReadValuesOfEverySection) {
  YAML::Node root = YAML::Load("job:\n  top_k: 5\nname: n\n");
  setYamlPath(root, "job.ints", "[4, 5]");
  YamlReader r(root, kFile);
  std::string name, missing = "dflt";
  r.read("name", name);
  r.read("missing", missing);
  YamlReader job = r.child("job");
  YamlReader search = r.child("search");  // absent section
  int topK = 10, batch = 256, threads = 0;
  std::vector<int> ints;
  job.read("top_k", topK);
  job.read("batch_size", batch);
  job.read("ints", ints);
  search.read("threads", threads);  // read after the child was attached to the root

  const YAML::Node& e = r.effective();
  EXPECT_EQ(e["name"].as<std::string>(), "n");
  EXPECT_EQ(e["missing"].as<std::string>(), "dflt");
  EXPECT_EQ(e["job"]["top_k"].as<int>(), 5);
  EXPECT_EQ(e["job"]["batch_size"].as<int>(), 256);
  EXPECT_EQ(e["job"]["ints"].as<std::vector<int>>(), (std::vector<int>{4, 5}));
  EXPECT_EQ(e["search"]["threads"].as<int>(), 0);
  EXPECT_EQ(job.effective()["top_k"].as<int>(), 5);
}

// ---- loadConfigSource ----

class ConfigFile : public ScratchDirTest {};

TEST_F(ConfigFile, GpuConfigResolvesFromTheConfigsFolder) {
  write("gpu/g.yaml", "gpu:\n  enabled: false\n");
  const std::string config =
      write("conf/job.yaml", "gpu_config: ../gpu/g.yaml\njob:\n  top_k: 3\n");
  const ConfigSource source = loadConfigSource(config, {});
  EXPECT_EQ(source.file, config);
  EXPECT_EQ(source.directory, (dir_ / "conf").string());
  EXPECT_EQ(source.gpuFile, path("gpu/g.yaml"));
  EXPECT_FALSE(source.gpuRoot["gpu"]["enabled"].as<bool>());
  EXPECT_EQ(source.root["job"]["top_k"].as<int>(), 3);
  EXPECT_TRUE(source.overridden->empty());
}

TEST_F(ConfigFile, GpuOverridesGoToTheGpuTree) {
  write("g.yaml", "gpu:\n  memory:\n    dtype: auto\n");
  const std::string config = write("job.yaml", "gpu_config: g.yaml\njob:\n  top_k: 3\n");
  const ConfigSource source =
      loadConfigSource(config, {"gpu.memory.dtype=float16", "job.top_k=7", "gpu.batch.x=1"});
  EXPECT_EQ(source.gpuRoot["gpu"]["memory"]["dtype"].as<std::string>(), "float16");
  EXPECT_EQ(source.gpuRoot["gpu"]["batch"]["x"].as<int>(), 1);
  EXPECT_FALSE(source.root["gpu"].IsDefined()) << "a gpu. override leaked into the job tree";
  EXPECT_EQ(source.root["job"]["top_k"].as<int>(), 7);
  EXPECT_EQ(*source.overridden,
            (std::set<std::string>{"gpu.memory.dtype", "job.top_k", "gpu.batch.x"}));
}

TEST_F(ConfigFile, WithoutGpuConfigGpuOverridesGoToTheJobTree) {
  const std::string config = write("job.yaml", "gpu:\n  enabled: true\n");
  const ConfigSource source = loadConfigSource(config, {"gpu.enabled=false"});
  EXPECT_EQ(source.gpuFile, "");
  EXPECT_FALSE(source.root["gpu"]["enabled"].as<bool>());
  EXPECT_TRUE(source.gpuRoot.IsMap());
  EXPECT_EQ(source.gpuRoot.size(), 0u);
}

TEST_F(ConfigFile, InlineGpuAndGpuConfigTogetherIsAnError) {
  write("g.yaml", "gpu:\n  enabled: true\n");
  const std::string config = write("job.yaml", "gpu_config: g.yaml\ngpu:\n  enabled: false\n");
  const std::string message = userError([&] { loadConfigSource(config, {}); });
  EXPECT_EQ(message, config + ": has both a 'gpu' section and 'gpu_config: g.yaml'; keep one");
  // The same when gpu_config comes from --set.
  const std::string inlineOnly = write("inline.yaml", "gpu:\n  enabled: false\n");
  EXPECT_NE(userError([&] {
              loadConfigSource(inlineOnly, {"gpu_config=" + path("g.yaml")});
            }).find("has both a 'gpu' section"),
            std::string::npos);
}

TEST_F(ConfigFile, GpuConfigFromSetIsTakenAsGiven) {
  const std::string config = write("job.yaml", "gpu_config: g.yaml\n");
  write("g.yaml", "gpu: {}\n");
  const std::string message =
      userError([&] { loadConfigSource(config, {"gpu_config=nowhere/other.yaml"}); });
  EXPECT_EQ(message, "GPU config file (gpu_config) 'nowhere/other.yaml' does not exist");
  const std::string absolute = write("elsewhere/g2.yaml", "gpu:\n  enabled: false\n");
  const ConfigSource source = loadConfigSource(config, {"gpu_config=" + absolute});
  EXPECT_EQ(source.gpuFile, absolute);
  EXPECT_EQ(source.overridden->count("gpu_config"), 1u);
}

TEST_F(ConfigFile, YamlSyntaxErrorNamesFileAndLine) {
  const std::string config = write("bad.yaml",
                                   "job:\n"            // 1
                                   "  top_k: 3\n"      // 2
                                   "  input: [a, b\n"  // 3
                                   "  output: c\n");   // 4
  const std::string message = userError([&] { loadConfigSource(config, {}); });
  EXPECT_EQ(message.rfind(config + ":", 0), 0u) << message;
  EXPECT_NE(message.find("YAML syntax error in config file"), std::string::npos) << message;
  // yaml-cpp notices the unclosed flow list where the next line starts.
  const std::string line =
      message.substr(config.size() + 1, message.find(':', config.size() + 1) - config.size() - 1);
  EXPECT_TRUE(line == "3" || line == "4") << message;

  const std::string tabbed = write("tab.yaml", "job:\n  top_k: 3\n   bad: x\n");
  const std::string tabMessage = userError([&] { loadConfigSource(tabbed, {}); });
  EXPECT_EQ(tabMessage.rfind(tabbed + ":3: YAML syntax error in config file", 0), 0u) << tabMessage;

  write("g.yaml", "gpu:\n  a: [\n");
  const std::string withGpu = write("job.yaml", "gpu_config: g.yaml\n");
  const std::string gpuMessage = userError([&] { loadConfigSource(withGpu, {}); });
  EXPECT_EQ(gpuMessage.rfind(path("g.yaml") + ":", 0), 0u) << gpuMessage;
  EXPECT_NE(gpuMessage.find("YAML syntax error in GPU config file"), std::string::npos)
      << gpuMessage;
}

TEST_F(ConfigFile, MissingFilesNameThePath) {
  const std::string missing = path("absent.yaml");
  EXPECT_EQ(userError([&] { loadConfigSource(missing, {}); }),
            "config file '" + missing + "' does not exist");
  const std::string config = write("job.yaml", "gpu_config: gone/g.yaml\n");
  EXPECT_EQ(userError([&] { loadConfigSource(config, {}); }),
            "GPU config file (gpu_config) '" + path("gone/g.yaml") + "' does not exist");
}

TEST_F(ConfigFile, MalformedSetsAndConfigsAreUserErrors) {
  const std::string config = write("job.yaml", "job:\n  top_k: 3\n");
  EXPECT_EQ(userError([&] { loadConfigSource(config, {"job.top_k"}); }),
            "--set 'job.top_k': use KEY=VALUE, e.g. --set job.top_k=20");
  EXPECT_NE(userError([&] { loadConfigSource(config, {"=3"}); }).find("use KEY=VALUE"),
            std::string::npos);
  const std::string list = write("list.yaml", "- a\n- b\n");
  EXPECT_EQ(userError([&] { loadConfigSource(list, {}); }),
            list + ": the config must be a mapping of sections (job:, ...)");
  const std::string badGpu = write("badgpu.yaml", "\n\ngpu_config: [a, b]\n");
  EXPECT_EQ(userError([&] { loadConfigSource(badGpu, {}); }),
            badGpu + ":3: key 'gpu_config': expected a file name");
  // An empty file is an empty mapping; `=` inside the value is kept.
  const std::string empty = write("empty.yaml", "");
  const ConfigSource source = loadConfigSource(empty, {"job.output=a=b"});
  EXPECT_EQ(source.root["job"]["output"].as<std::string>(), "a=b");
}

TEST(ConfigResolvePath, RelativeJoinsTheFolderAbsoluteAndEmptyStay) {
  EXPECT_EQ(resolvePath("/cfg/dir", "../data/x.jsonl"), "/cfg/data/x.jsonl");
  EXPECT_EQ(resolvePath("/cfg/dir", "./x"), "/cfg/dir/x");
  EXPECT_EQ(resolvePath("/cfg/dir", "/abs/x"), "/abs/x");
  EXPECT_EQ(resolvePath("/cfg/dir", ""), "");
  EXPECT_EQ(resolvePath(".", "x/y"), "x/y");
}

}  // namespace
}  // namespace eleanor

namespace eleanor {
namespace {

// Found by the config fuzzer: a folder or an over-long name as gpu_config, and an over-long
// byte size, were internal errors or a crash instead of messages.
TEST(ConfigFileRobustness, FolderLongNameAndLongSizeAreUserErrors) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("eleanor-robust-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string job = dir + "/job.yaml";
  std::ofstream(job) << "gpu_config: " << dir << "\n";
  EXPECT_THROW(loadConfigSource(job, {}), UserError);
  std::ofstream(job) << "gpu_config: " << std::string(300, 'x') << ".yaml\n";
  EXPECT_THROW(loadConfigSource(job, {}), UserError);
  std::ofstream(job) << "gpu:\n  memory:\n    max_memory_per_gpu: '" << std::string(60000, '9')
                     << "'\n";
  EXPECT_THROW(
      {
        const ConfigSource source = loadConfigSource(job, {});
        YamlReader root(source.root, job);
        auto gpu = root.child("gpu");
        readGpuConfig(gpu);
      },
      UserError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace eleanor
