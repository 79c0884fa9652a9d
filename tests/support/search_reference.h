// Reference helpers for the search tests: a brute-force double-precision top-k and seeded
// random matrices (with exact duplicate rows, to force ties).
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "common/matrix.h"
#include "worker/retrieval/candidate.h"

namespace eleanor::reference {

// Brute force: every row scored in double in index order, sorted by (score desc, row asc).
inline std::vector<Candidate> referenceTopK(const Matrix& normalizedShard, const float* query,
                                            int k, int64_t rowOffset) {
  std::vector<Candidate> all;
  for (int64_t r = 0; r < normalizedShard.rows; ++r) {
    double s = 0;
    for (int64_t d = 0; d < normalizedShard.cols; ++d)
      s += static_cast<double>(query[d]) * normalizedShard.values[r * normalizedShard.cols + d];
    all.push_back({s, rowOffset + r});
  }
  std::sort(all.begin(), all.end(), ranksBefore);
  all.resize(std::min<size_t>(all.size(), static_cast<size_t>(k)));
  return all;
}

inline Matrix randomMatrix(std::mt19937_64& rng, int64_t rows, int64_t cols) {
  std::normal_distribution<float> normal;
  Matrix m(rows, cols);
  for (float& v : m.values) v = normal(rng);
  return m;
}

// Rows drawn from a small pool so that exact duplicates (ties) are common.
inline Matrix matrixWithDuplicates(std::mt19937_64& rng, int64_t rows, int64_t cols,
                                   int64_t distinct) {
  const Matrix pool = randomMatrix(rng, distinct, cols);
  Matrix m(rows, cols);
  std::uniform_int_distribution<int64_t> pick(0, distinct - 1);
  for (int64_t r = 0; r < rows; ++r) {
    const auto src = pool.row(pick(rng));
    std::copy(src.begin(), src.end(), m.row(r).begin());
  }
  return m;
}

// Clustered rows with exact duplicates (every 7th row repeats the one before): near-ties and
// ties, the hard case for low precision.
inline Matrix clustered(std::mt19937_64& rng, int64_t rows, int64_t cols) {
  const Matrix centres = randomMatrix(rng, std::max<int64_t>(2, rows / 40), cols);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::uniform_int_distribution<int64_t> pick(0, centres.rows - 1);
  Matrix m(rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const auto c = centres.row(pick(rng));
    const bool duplicate = r > 0 && r % 7 == 0;
    for (int64_t d = 0; d < cols; ++d)
      m.values[r * cols + d] = duplicate ? m.values[(r - 1) * cols + d] : c[d] + noise(rng);
  }
  return m;
}

}  // namespace eleanor::reference
