#include "common/config_file.h"

#include <fmt/format.h>

#include <filesystem>

#include "common/error.h"
#include "common/yaml_reader.h"

namespace eleanor {

std::string resolvePath(const std::string& directory, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(directory) / path).lexically_normal().string();
}

YAML::Node loadYamlFile(const std::string& path, const std::string& what) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status))
    throw UserError(fmt::format("{} '{}' does not exist{}", what, path,
                                error && error != std::errc::no_such_file_or_directory
                                    ? " (" + error.message() + ")"
                                    : ""));
  if (std::filesystem::is_directory(status))
    throw UserError(fmt::format("{} '{}' is a folder; name the YAML file in it", what, path));
  try {
    YAML::Node node = YAML::LoadFile(path);
    if (!node.IsDefined() || node.IsNull()) node = YAML::Node(YAML::NodeType::Map);
    refuseDuplicateKeys(node, path);
    return node;
  } catch (const YAML::ParserException& e) {
    throw UserError(
        fmt::format("{}:{}: YAML syntax error in {}: {}", path, e.mark.line + 1, what, e.msg));
  } catch (const YAML::BadFile&) {
    throw UserError(fmt::format("cannot read {} '{}'", what, path));
  } catch (const std::ios_base::failure& e) {
    throw UserError(fmt::format("cannot read {} '{}': {}", what, path, e.what()));
  }
}

ConfigSource loadConfigSource(const std::string& path, const std::vector<std::string>& sets) {
  ConfigSource source;
  source.file = path;
  source.directory = std::filesystem::path(path).parent_path().string();
  if (source.directory.empty()) source.directory = ".";
  source.root = loadYamlFile(path, "config file");
  if (!source.root.IsMap())
    throw UserError(fmt::format("{}: the config must be a mapping of sections (job:, ...)", path));
  source.overridden = std::make_shared<std::set<std::string>>();

  std::vector<std::pair<std::string, std::string>> parsed;
  for (const auto& set : sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError(fmt::format("--set '{}': use KEY=VALUE, e.g. --set job.top_k=20", set));
    parsed.emplace_back(set.substr(0, eq), set.substr(eq + 1));
  }
  // gpu_config itself may be overridden, so apply that one first.
  for (const auto& [key, value] : parsed) {
    if (key == "gpu_config") {
      setYamlPath(source.root, key, value);
      source.overridden->insert(key);
    }
  }
  if (source.root["gpu_config"].IsDefined() && !source.root["gpu_config"].IsNull()) {
    const YAML::Node entry = source.root["gpu_config"];
    if (!entry.IsScalar())
      throw UserError(fmt::format("{}:{}: key 'gpu_config': expected a file name", path,
                                  entry.Mark().line + 1));
    source.gpuFile = source.overridden->count("gpu_config")
                         ? entry.Scalar()
                         : resolvePath(source.directory, entry.Scalar());
    source.gpuRoot = loadYamlFile(source.gpuFile, "GPU config file (gpu_config)");
    if (source.root["gpu"].IsDefined())
      throw UserError(fmt::format("{}: has both a 'gpu' section and 'gpu_config: {}'; keep one",
                                  path, entry.Scalar()));
  } else {
    source.gpuRoot = YAML::Node(YAML::NodeType::Map);
  }

  for (const auto& [key, value] : parsed) {
    if (key == "gpu_config") continue;
    const bool gpuKey = key == "gpu" || key.rfind("gpu.", 0) == 0;
    if (gpuKey && !source.gpuFile.empty()) {
      setYamlPath(source.gpuRoot, key, value);
    } else {
      setYamlPath(source.root, key, value);
    }
    source.overridden->insert(key);
  }
  return source;
}

}  // namespace eleanor
