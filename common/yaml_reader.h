// YamlReader: reads one YAML mapping into plain values with every key checked. A key of the
// wrong type, or a key nobody asked for, is a UserError naming the file, the line and the
// dotted key path, with a suggestion when an unknown key is close to a known one.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace eleanor {

class YamlReader {
 public:
  // `node` must be a mapping or null (an absent section). `file` names the source in errors;
  // `path` is the dotted path of `node` ("" at the root). Paths in `overridden` came from
  // `--set` and are reported as such instead of by line.
  YamlReader(YAML::Node node, std::string file, std::string path = "",
             std::shared_ptr<const std::set<std::string>> overridden = nullptr);

  bool has(const std::string& key) const;

  // Reads `key` into `value` when present (and leaves the default otherwise). Supported:
  // bool, int, int64_t, double, std::string, std::vector of those, std::map<std::string, int>.
  template <class T>
  void read(const std::string& key, T& value);

  // Reads `key`, a string or a list of strings, into `values` (a string: one value); absent
  // keeps the default. The effective settings show it as written.
  void readOneOrList(const std::string& key, std::vector<std::string>& values);

  // The mapping under `key`; an absent key gives an empty reader whose reads keep defaults.
  YamlReader child(const std::string& key);

  // Accepts `key` without reading it (a section kept for compatibility and not used).
  void ignore(const std::string& key) { used_.insert(key); }

  // Keys of this mapping in file order (for sections whose keys are names, such as critics).
  std::vector<std::string> keys() const;

  // Throws for the first key of this mapping that was never read or descended into.
  void finish() const;

  // "FILE:LINE: key 'a.b': <problem>" (or "--set a.b: ..." for overrides).
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;

  // Every value read so far, defaults included, as a YAML tree shared by the root reader and
  // all its children: the effective settings, to print or hash.
  const YAML::Node& effective() const { return effective_; }

  const std::string& path() const { return path_; }
  std::string keyPath(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

 private:
  // Like fail(), located at `node` (an element of a list or mapping has its own line).
  [[noreturn]] void failAt(const YAML::Node& node, const std::string& key,
                           const std::string& problem) const;
  template <class T>
  void readValue(const std::string& key, T& value);
  template <class T>
  T convert(const YAML::Node& node, const std::string& key) const;
  std::string location(const std::string& key, const YAML::Node& node) const;
  // The text of a key of the mapping at dotted path `under`; a list or mapping used as a key
  // ("? [a, b]: 1") is a UserError.
  std::string keyName(const YAML::Node& key, const std::string& under) const;

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::shared_ptr<const std::set<std::string>> overridden_;
  std::set<std::string> used_;
  YAML::Node effective_;
};

// Throws UserError "FILE:LINE: key 'a.b' appears twice (also at line N) ..." for the first
// mapping anywhere under `node` with a repeated key: YAML parsers keep one of the two
// silently, so a second `critics:` section would be ignored without a word.
void refuseDuplicateKeys(const YAML::Node& node, const std::string& file,
                         const std::string& path = "");

// Sets `value` (parsed as a YAML scalar or flow sequence) at the dotted `path` of `root`,
// creating mappings as needed. Throws UserError when a step of the path is not a mapping.
void setYamlPath(YAML::Node root, const std::string& path, const std::string& value);

// ---- template definitions ----

namespace detail {
std::string typeName(const bool*);
std::string typeName(const int*);
std::string typeName(const int64_t*);
std::string typeName(const double*);
std::string typeName(const std::string*);
}  // namespace detail

template <class T>
T YamlReader::convert(const YAML::Node& node, const std::string& key) const {
  if (!node.IsScalar()) failAt(node, key, "expected " + detail::typeName(static_cast<T*>(nullptr)));
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    failAt(
        node, key,
        "expected " + detail::typeName(static_cast<T*>(nullptr)) + ", got '" + node.Scalar() + "'");
  }
}

template <class T>
void YamlReader::read(const std::string& key, T& value) {
  used_.insert(key);
  readValue(key, value);
  effective_[key] = value;
}

template <class T>
void YamlReader::readValue(const std::string& key, T& value) {
  if (!has(key)) return;
  const YAML::Node item = node_[key];
  if (item.IsNull()) return;
  if constexpr (std::is_same_v<T, std::map<std::string, int>>) {
    if (!item.IsMap()) fail(key, "expected a mapping of names to integers");
    T result;
    for (const auto& entry : item) {
      const std::string name = keyName(entry.first, keyPath(key));
      result[name] = convert<int>(entry.second, key + "." + name);
    }
    value = std::move(result);
  } else if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string>) {
    if (!item.IsSequence()) fail(key, "expected a list, e.g. [a, b]");
    T result;
    for (size_t i = 0; i < item.size(); ++i)
      result.push_back(
          convert<typename T::value_type>(item[i], key + "[" + std::to_string(i) + "]"));
    value = std::move(result);
  } else {
    value = convert<T>(item, key);
  }
}

}  // namespace eleanor
