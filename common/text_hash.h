// Stable hashes (xxHash, XXH3): the same value for the same bytes on every machine and run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace eleanor {

uint64_t hash64(std::string_view bytes, uint64_t seed = 0);

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const Hash128&) const = default;
};
Hash128 hash128(std::string_view bytes, uint64_t seed = 0);

// 16 lowercase hex digits of hash64.
std::string hash64Hex(std::string_view bytes);

// hash64Hex of a whole file's bytes (memory-mapped); throws UserError naming `path` when it
// cannot be read.
std::string fileHash64Hex(const std::string& path);

}  // namespace eleanor
