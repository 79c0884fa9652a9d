// ScratchDirTest: a GoogleTest fixture with a fresh folder per test under the temp directory
// (named after the suite, pid and test), removed afterwards. readFile: a whole file's bytes
// ("" where it cannot be read). refusal: the UserError a call throws (a test failure where it
// throws none).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "common/error.h"

namespace eleanor {

inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string refusal(const std::function<void()>& call) {
  try {
    call();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("eleanor-{}-{}-{}", info->test_suite_name(), ::getpid(), info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  // Writes `bytes` to dir_/relative (creating folders) and returns its path.
  std::string write(const std::string& relative, const std::string& bytes) {
    const std::filesystem::path file = dir_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << bytes;
    return file.string();
  }
  std::string path(const std::string& relative) const {
    return (dir_ / relative).lexically_normal().string();
  }

  std::filesystem::path dir_;
};

}  // namespace eleanor
