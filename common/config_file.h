// Loading YAML config files: the job file, the GPU file it names (`gpu_config:`), and the
// `--set KEY=VALUE` overrides applied on top. Validation of the keys is done by the readers of
// each section (YamlReader), which know the keys.
#pragma once

#include <yaml-cpp/yaml.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace eleanor {

struct ConfigSource {
  std::string file;       // the job config as given
  std::string directory;  // its folder: relative paths in it resolve from here
  YAML::Node root;        // the job file's tree, overrides applied
  std::string gpuFile;    // the GPU config file ("" when none)
  YAML::Node gpuRoot;     // its tree (a mapping with key `gpu`), overrides applied
  std::shared_ptr<std::set<std::string>> overridden;  // dotted paths set by --set
};

// Reads `path` and the file its `gpu_config` key names (relative to `path`'s folder), then
// applies `sets` ("a.b=value"; keys under `gpu.` go to the GPU tree). Throws UserError naming
// the file and line for a missing file or a YAML syntax error.
ConfigSource loadConfigSource(const std::string& path, const std::vector<std::string>& sets);

// `path` as written in a file in `directory`: absolute paths and "" stay as they are.
std::string resolvePath(const std::string& directory, const std::string& path);

YAML::Node loadYamlFile(const std::string& path, const std::string& what);

}  // namespace eleanor
