// Matrix: a dense row-major float32 matrix in host memory, the exchange format between the
// embedder, the communicator and the search (LibTorch stays inside the files that compute).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace eleanor {

struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;  // rows * cols

  Matrix() = default;
  Matrix(int64_t rowCount, int64_t colCount)
      : rows(rowCount), cols(colCount), values(static_cast<size_t>(rowCount * colCount)) {}

  std::span<float> row(int64_t i) { return {values.data() + i * cols, static_cast<size_t>(cols)}; }
  std::span<const float> row(int64_t i) const {
    return {values.data() + i * cols, static_cast<size_t>(cols)};
  }
};

}  // namespace eleanor
