#include "common/yaml_reader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

#include "common/error.h"

namespace eleanor {
namespace detail {
std::string typeName(const bool*) {
  return "true or false";
}
std::string typeName(const int*) {
  return "an integer";
}
std::string typeName(const int64_t*) {
  return "an integer";
}
std::string typeName(const double*) {
  return "a number";
}
std::string typeName(const std::string*) {
  return "a string";
}
}  // namespace detail

namespace {

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

YamlReader::YamlReader(YAML::Node node, std::string file, std::string path,
                       std::shared_ptr<const std::set<std::string>> overridden)
    : node_(std::move(node)),
      file_(std::move(file)),
      path_(std::move(path)),
      overridden_(std::move(overridden)),
      effective_(YAML::NodeType::Map) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    const std::string where = overridden_ && overridden_->count(path_)
                                  ? "--set " + path_
                                  : fmt::format("{}:{}", file_, node_.Mark().line + 1);
    throw UserError(fmt::format("{}: key '{}': expected a mapping of keys to values", where,
                                path_.empty() ? "<root>" : path_));
  }
}

bool YamlReader::has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined();
}

void YamlReader::readOneOrList(const std::string& key, std::vector<std::string>& values) {
  if (has(key) && node_[key].IsSequence()) {
    read(key, values);
    return;
  }
  std::string one = values.size() == 1 ? values.front() : std::string();
  read(key, one);
  if (has(key) && !node_[key].IsNull()) values = {one};
}

YamlReader YamlReader::child(const std::string& key) {
  used_.insert(key);
  YAML::Node item = has(key) ? node_[key] : YAML::Node();
  YamlReader reader(item, file_, keyPath(key), overridden_);
  // Share the child's effective tree with ours: YAML::Node is a handle.
  effective_[key] = reader.effective_;
  return reader;
}

std::vector<std::string> YamlReader::keys() const {
  std::vector<std::string> result;
  if (!node_.IsMap()) return result;
  for (const auto& entry : node_) result.push_back(keyName(entry.first, path_));
  return result;
}

std::string YamlReader::keyName(const YAML::Node& key, const std::string& under) const {
  if (key.IsMap() || key.IsSequence()) {
    throw UserError(fmt::format("{}:{}: under '{}': a key must be a name, not a {}", file_,
                                key.Mark().line + 1, under.empty() ? "<root>" : under,
                                key.IsMap() ? "mapping" : "list"));
  }
  if (!key.IsScalar()) {  // `:` or `~:` with nothing before it: a null key
    throw UserError(fmt::format("{}:{}: under '{}': a key is empty; give it a name", file_,
                                key.Mark().line + 1, under.empty() ? "<root>" : under));
  }
  return key.as<std::string>();
}

std::string YamlReader::location(const std::string& key, const YAML::Node& node) const {
  const std::string full = keyPath(key);
  if (overridden_) {
    for (const auto& set : *overridden_) {
      if (full == set || full.rfind(set + ".", 0) == 0 || full.rfind(set + "[", 0) == 0)
        return "--set " + set;
    }
  }
  const YAML::Mark mark = node.IsDefined() ? node.Mark() : node_.Mark();
  if (mark.is_null()) return file_;
  return fmt::format("{}:{}", file_, mark.line + 1);
}

void YamlReader::fail(const std::string& key, const std::string& problem) const {
  YAML::Node item;
  if (node_.IsMap()) {
    // Subscripting with a path-like key (e.g. "list[2]") finds nothing; fall back to the map.
    const std::string head = key.substr(0, key.find_first_of(".["));
    if (node_[head].IsDefined()) item = node_[head];
  }
  throw UserError(fmt::format("{}: key '{}': {}", location(key, item), keyPath(key), problem));
}

void YamlReader::failAt(const YAML::Node& node, const std::string& key,
                        const std::string& problem) const {
  throw UserError(fmt::format("{}: key '{}': {}", location(key, node), keyPath(key), problem));
}

void YamlReader::finish() const {
  if (!node_.IsMap()) return;
  for (const auto& entry : node_) {
    const std::string key = keyName(entry.first, path_);
    if (used_.count(key)) continue;
    std::string hint;
    size_t best = 3;
    for (const auto& known : used_) {
      const size_t distance = editDistance(key, known);
      if (distance < best) {
        best = distance;
        hint = fmt::format(" (did you mean '{}'?)", keyPath(known));
      }
    }
    if (hint.empty() && !used_.empty()) {
      std::vector<std::string> known(used_.begin(), used_.end());
      hint = fmt::format(" (known keys here: {})", fmt::join(known, ", "));
    }
    throw UserError(
        fmt::format("{}: unknown key '{}'{}", location(key, entry.first), keyPath(key), hint));
  }
}

namespace {

// `where` names the source: a file (lines are given) or "--set KEY" (no lines).
void refuseDuplicates(const YAML::Node& node, const std::string& where, bool lines,
                      const std::string& path) {
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      refuseDuplicates(node[i], where, lines, fmt::format("{}[{}]", path, i));
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> firstLine;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) continue;  // YamlReader refuses such keys where they are read
    const std::string key = it->first.Scalar();
    const std::string keyPath = path.empty() ? key : path + "." + key;
    const int line = it->first.Mark().line + 1;
    const auto [seen, inserted] = firstLine.emplace(key, line);
    if (inserted) {
      refuseDuplicates(it->second, where, lines, keyPath);
    } else if (lines) {
      throw UserError(
          fmt::format("{}:{}: key '{}' appears twice (also at line {}): YAML keeps "
                      "only one of them; merge the two into one",
                      where, line, keyPath, seen->second));
    } else {
      throw UserError(
          fmt::format("{}: key '{}' appears twice: YAML keeps only one of them; "
                      "write it once",
                      where, keyPath));
    }
  }
}

}  // namespace

void setYamlPath(YAML::Node root, const std::string& path, const std::string& value) {
  if (path.empty()) throw UserError("--set needs KEY=VALUE, e.g. --set job.top_k=20");
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw UserError(
        fmt::format("--set {}={}: the value is not valid YAML: {}", path, value, e.msg));
  }
  if (!parsed.IsDefined() || parsed.IsNull()) parsed = YAML::Node(value);
  refuseDuplicates(parsed, "--set " + path, /*lines=*/false, path);

  std::vector<std::string> steps;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    steps.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // yaml-cpp nodes are handles: assigning to `node` would rebind the handle, not write into the
  // tree, so walk with reset() on copies of the children.
  YAML::Node node = root;
  std::string walked;
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string& step = steps[i];
    if (step.empty()) throw UserError(fmt::format("--set {}: empty key in the path", path));
    if (!node.IsMap() && !node.IsNull())
      throw UserError(fmt::format("--set {}: '{}' is not a mapping", path, walked));
    walked += (walked.empty() ? "" : ".") + step;
    if (i + 1 == steps.size()) {
      node[step] = parsed;
    } else {
      YAML::Node next = node[step];
      if (!next.IsDefined() || next.IsNull()) {
        node[step] = YAML::Node(YAML::NodeType::Map);
        next = node[step];
      }
      node.reset(next);
    }
  }
}

void refuseDuplicateKeys(const YAML::Node& node, const std::string& file, const std::string& path) {
  refuseDuplicates(node, file, /*lines=*/true, path);
}

}  // namespace eleanor
