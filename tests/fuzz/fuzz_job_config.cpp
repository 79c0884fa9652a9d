// libFuzzer target: the job config loader, on its real path (files on disk). The input up to
// its first NUL byte is written as eleanor.yaml next to a copy of the shipped gpu.yaml and
// critics.yaml; each NUL-separated piece after it is one `--set KEY=VALUE`. Then
// loadJobConfig, with requireJob taken from the input's size, and effectiveConfigText.
// Contract (job_config.h): only UserError escapes.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "tests/fuzz/fuzz_support.h"
#include "worker/job_config.h"

namespace {

constexpr size_t kMaxSets = 8;

std::string readSource(const std::string& relative) {
  std::ifstream in(std::string(ELEANOR_SOURCE_DIR) + "/" + relative, std::ios::binary);
  if (!in) eleanor::fuzz::violated("cannot read the shipped file", relative);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  eleanor::fuzz::writeFile("gpu.yaml", readSource("config/gpu.yaml"));
  eleanor::fuzz::writeFile("critics.yaml", readSource("config/critics.yaml"));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t end = input.find('\0');
  std::vector<std::string> sets;
  if (end != std::string_view::npos) {
    std::string_view rest = input.substr(end + 1);
    while (sets.size() < kMaxSets) {
      const size_t next = rest.find('\0');
      sets.emplace_back(rest.substr(0, next));
      if (next == std::string_view::npos) break;
      rest.remove_prefix(next + 1);
    }
  }
  const std::string path = eleanor::fuzz::writeFile("eleanor.yaml", input.substr(0, end));
  try {
    const eleanor::JobConfig config = eleanor::loadJobConfig(path, sets, size % 2 == 0);
    (void)eleanor::effectiveConfigText(config);
  } catch (const eleanor::UserError&) {
  }
  return 0;
}
