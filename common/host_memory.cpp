#include "common/host_memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace eleanor {
namespace {

// v1 writes "no limit" as the largest page-aligned 64-bit value; anything this large is none.
constexpr int64_t kNoLimit = int64_t{1} << 62;

std::optional<int64_t> readNumber(const std::string& path) {
  std::ifstream file(path);
  std::string word;
  if (!(file >> word) || word == "max") return std::nullopt;
  try {
    return std::stoll(word);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The value of `key` in a "key value" per line file (memory.stat); 0 where it is not there.
int64_t readKey(const std::string& path, const std::string& key) {
  std::ifstream file(path);
  std::string name;
  int64_t value = 0;
  while (file >> name >> value) {
    if (name == key) return value;
    file.ignore(256, '\n');
  }
  return 0;
}

int64_t memAvailable(const std::string& procRoot) {
  std::ifstream meminfo(procRoot + "/meminfo");
  std::string key, unit;
  int64_t value = 0;
  while (meminfo >> key >> value >> unit)
    if (key == "MemAvailable:" && unit == "kB") return value * 1024;
  return -1;
}

struct CgroupMount {
  bool v2 = false;
  std::string root;        // the cgroup the mount shows at its mount point
  std::string mountPoint;  // where it is mounted
};

// The cgroup v2 mounts and the v1 mounts of the memory controller, from mountinfo: "id parent
// major:minor root mount-point options [optional fields] - type source super-options".
std::vector<CgroupMount> cgroupMounts(const std::string& procRoot) {
  std::vector<CgroupMount> mounts;
  std::ifstream mountinfo(procRoot + "/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mountPoint, word;
    if (!(fields >> id >> parent >> device >> root >> mountPoint)) continue;
    while (fields >> word && word != "-") {
    }
    std::string type, source, superOptions;
    if (!(fields >> type >> source >> superOptions)) continue;
    const bool memoryV1 =
        type == "cgroup" && ("," + superOptions + ",").find(",memory,") != std::string::npos;
    if (type == "cgroup2" || memoryV1) mounts.push_back({type == "cgroup2", root, mountPoint});
  }
  return mounts;
}

// This process's cgroup path in the v2 hierarchy (v2 true) or the v1 memory hierarchy, from
// /proc/self/cgroup: "0::/path" (v2), "N:controller,...:/path" (v1).
std::optional<std::string> ownCgroup(const std::string& procRoot, bool v2) {
  std::ifstream cgroups(procRoot + "/self/cgroup");
  for (std::string line; std::getline(cgroups, line);) {
    const size_t first = line.find(':');
    const size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const bool match = v2 ? line.substr(0, first) == "0" && controllers.empty()
                          : ("," + controllers + ",").find(",memory,") != std::string::npos;
    if (match) return line.substr(second + 1);
  }
  return std::nullopt;
}

// Walks from this process's cgroup up to the mount's root, keeping the smallest headroom.
void applyCgroupLimits(const CgroupMount& mount, const std::string& procRoot,
                       const std::string& fsRoot, HostMemory& memory) {
  const auto own = ownCgroup(procRoot, mount.v2);
  if (!own) return;
  const std::string root = mount.root == "/" ? "" : mount.root;
  if (own->compare(0, root.size(), root) != 0) return;  // not below what this mount shows
  std::string below = own->substr(root.size());         // "" at the mount's own cgroup
  if (below == "/") below.clear();
  if (!below.empty() && below.front() != '/') return;  // a sibling that shares the prefix
  while (true) {
    const std::string dir = fsRoot + mount.mountPoint + below;
    const auto limit = readNumber(dir + (mount.v2 ? "/memory.max" : "/memory.limit_in_bytes"));
    if (limit && *limit < kNoLimit) {
      const auto usage =
          readNumber(dir + (mount.v2 ? "/memory.current" : "/memory.usage_in_bytes")).value_or(0);
      int64_t inactiveFile =
          readKey(dir + "/memory.stat", mount.v2 ? "inactive_file" : "total_inactive_file");
      if (!mount.v2 && inactiveFile == 0)
        inactiveFile = readKey(dir + "/memory.stat", "inactive_file");
      const int64_t workingSet = std::max<int64_t>(0, usage - inactiveFile);
      const int64_t headroom = std::max<int64_t>(0, *limit - workingSet);
      if (memory.availableBytes < 0 || headroom < memory.availableBytes) {
        const std::string path = root + below;
        memory.availableBytes = headroom;
        memory.source =
            fmt::format("the memory cgroup '{}' ({} {}, {} in use)", path.empty() ? "/" : path,
                        mount.v2 ? "memory.max" : "memory.limit_in_bytes", byteSizeText(*limit),
                        byteSizeText(workingSet));
      }
    }
    if (below.empty()) break;
    below.resize(below.rfind('/'));
  }
}

}  // namespace

std::string byteSizeText(int64_t bytes) {
  const auto in = [bytes](int shift) { return static_cast<double>(bytes) / (int64_t{1} << shift); };
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", in(30));
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.1f} MiB", in(20));
  if (bytes >= 1024) return fmt::format("{:.1f} KiB", in(10));
  return fmt::format("{} bytes", bytes);
}

HostMemory hostMemory(const std::string& procRoot, const std::string& fsRoot) {
  HostMemory memory;
  memory.availableBytes = memAvailable(procRoot);
  if (memory.availableBytes >= 0) memory.source = "MemAvailable";
  for (const CgroupMount& mount : cgroupMounts(procRoot))
    applyCgroupLimits(mount, procRoot, fsRoot, memory);
  return memory;
}

}  // namespace eleanor
