// Helpers shared by the libFuzzer targets: a private scratch folder per fuzzing process, file
// writing, and the one way a target reports a broken contract (abort, so libFuzzer saves the
// input as a crash).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace eleanor::fuzz {

// A folder under the temp directory, unique to this process (fuzz jobs run in parallel), removed
// by exit(). libFuzzer often ends with _Exit or abort, so run_fuzzer.sh points TMPDIR at a
// folder of the build that it empties before each run.
inline const std::filesystem::path& scratchDir() {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "eleanor-fuzz-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
      std::perror("eleanor fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratchDir(), ignored);
    });
    return std::filesystem::path(pattern);
  }();
  return dir;
}

inline std::string writeFile(const std::string& name, std::string_view bytes) {
  const std::filesystem::path file = scratchDir() / name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::perror(("eleanor fuzz: write " + file.string()).c_str());
    std::abort();
  }
  return file.string();
}

// A broken contract of the code under test: print what and abort (libFuzzer keeps the input).
[[noreturn]] inline void violated(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "eleanor fuzz: contract violated: %s%s%s\n", what,
               detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

}  // namespace eleanor::fuzz
