#include "common/text_hash.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "common/mapped_file.h"

namespace eleanor {

uint64_t hash64(std::string_view bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

Hash128 hash128(std::string_view bytes, uint64_t seed) {
  const XXH128_hash_t h = XXH3_128bits_withSeed(bytes.data(), bytes.size(), seed);
  return {h.low64, h.high64};
}

std::string hash64Hex(std::string_view bytes) {
  return fmt::format("{:016x}", hash64(bytes));
}

std::string fileHash64Hex(const std::string& path) {
  const MappedFile file(path);
  return hash64Hex(file.view());
}

}  // namespace eleanor
