// How much more host memory this process can take before the kernel refuses or kills: the
// least of the machine's MemAvailable and, for the memory cgroup this process is in and each
// cgroup above it (v2 `memory.max`, v1 `memory.limit_in_bytes`: what Slurm's --mem, a
// container's limit or systemd sets), the limit less the group's working set (its usage less
// its inactive page cache, which the kernel reclaims before it kills). On a cluster node the
// cgroup, not MemAvailable, is what a job meets: a 16 GiB job on a 512 GiB node is killed at
// 16 GiB. Reads /proc and the cgroup files; never throws.
#pragma once

#include <cstdint>
#include <string>

namespace eleanor {

struct HostMemory {
  int64_t availableBytes = -1;  // -1: nothing could be read
  std::string source;  // "MemAvailable", or "the memory cgroup '/x' (limit ..., ... in use)"
};

// `procRoot` holds meminfo and self/{cgroup,mountinfo}; `fsRoot` is put before the mount points
// mountinfo names (tests give a tree of their own; "" is the real one).
HostMemory hostMemory(const std::string& procRoot = "/proc", const std::string& fsRoot = "");

// "3.25 GiB" from 1 GiB up, else "812.4 MiB", "2.0 KiB", "512 bytes": sizes in messages about
// memory and disk.
std::string byteSizeText(int64_t bytes);

}  // namespace eleanor
