// The fused similarity + top-k kernel (fused_topk.h), on a GPU:
//  - raw kernel: its window is ordered by (score desc, row asc), its scores are within the
//    fp32-accumulation tolerance of the double dot products of the rounded inputs, nothing left
//    out scores above its last entry (beyond that tolerance), and it holds every row of the
//    true top-keep whose exact score clears the rest by more than 2 eps;
//  - through ShardIndex with search.kernel = fused: top-k ids and scores equal a brute-force
//    double reference (ties by global row), bfloat16 and float16, resident and offloaded.
// Random shapes with tails (Q, N not multiples of the tiles, D not a multiple of 32, and D not
// a multiple of 8, which takes the matrix path), k from 1 to 256, duplicated rows for ties.
#include <ATen/ATen.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/support/search_reference.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/fused_gpu_window.h"
#include "worker/retrieval/fused_topk.h"
#include "worker/retrieval/shard_index.h"

namespace eleanor {
namespace {

// |fp32 tensor-core sum - exact sum| of d exact products, relative to sum |q_i p_i|: twice the
// textbook d·2^-24 (truncating accumulation), the same allowance the index's epsilon makes.
double accumulateTolerance(int64_t dim, double absoluteSum) {
  return 2.0 * static_cast<double>(dim) * std::ldexp(1.0, -24) * absoluteSum * 1.01 + 1e-12;
}

// A bound on |score - exact| for a unit query, at its worst case: accumulation plus rounding
// q, p and the output to 16 bits, each by the whole unit roundoff (the index itself uses the
// measured rounding, exact_topk.h's ScoreBound, which is below this; the kernel's output is
// float32, so the last term is spare).
double indexEpsilon(int64_t dim, at::ScalarType dtype) {
  const double rounding = 3 * unitRoundoff(dtype == at::kBFloat16 ? kBfloat16Bits : kFloat16Bits);
  return (2.0 * static_cast<double>(dim) * std::ldexp(1.0, -24) + rounding) * 1.01 + 1e-12;
}

using reference::clustered;
using reference::randomMatrix;

at::Tensor hostTensor(const Matrix& m) {
  return at::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols}, at::kFloat).clone();
}

// Brute force: the best k rows of `shard` for each query by exact double dot product, ties by
// global row; empty slots past the shard's size.
std::vector<Candidate> bruteForce(const Matrix& shard, int64_t rowOffset, const Matrix& queries,
                                  int k) {
  std::vector<Candidate> out(static_cast<size_t>(queries.rows * k));
  std::vector<Candidate> all(static_cast<size_t>(shard.rows));
  for (int64_t i = 0; i < queries.rows; ++i) {
    for (int64_t r = 0; r < shard.rows; ++r)
      all[r] = {exactDot(queries.row(i).data(), shard.row(r).data(), shard.cols), rowOffset + r};
    const auto cut = all.begin() + std::min<int64_t>(k, shard.rows);
    std::partial_sort(all.begin(), cut, all.end(), ranksBefore);
    std::copy(all.begin(), cut, out.begin() + i * k);
  }
  return out;
}

bool haveGpu() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

class FusedTopKKernel : public ::testing::TestWithParam<at::ScalarType> {};

// The device's compute capability, as major * 10 + minor.
int computeCapability() {
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major * 10 + minor;
}

// The Hopper tests' start: a GPU, device 0 current, compute capability 9.0 (else skipped).
#define ELEANOR_REQUIRE_HOPPER()            \
  ASSERT_TRUE(haveGpu());                   \
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess); \
  if (computeCapability() != 90) GTEST_SKIP() << "the Hopper kernel needs compute capability 9.0"

// Normalises m's rows (in place) and returns them on GPU 0 in `dtype`.
at::Tensor normalizedOnGpu(Matrix& m, at::ScalarType dtype) {
  normalizeRows(m);
  return hostTensor(m).to(at::Device(at::kCUDA, 0)).to(dtype).contiguous();
}

// The problem of queries dq [q x d] and rows dp [n x d] (device, bfloat16 or float16).
FusedTopKProblem problemOf(const at::Tensor& dq, const at::Tensor& dp, int keep) {
  FusedTopKProblem problem;
  problem.dtype = dq.scalar_type() == at::kBFloat16 ? FusedDtype::BFloat16 : FusedDtype::Float16;
  problem.queries = dq.data_ptr();
  problem.rows = dp.data_ptr();
  problem.queryCount = dq.size(0);
  problem.rowCount = dp.size(0);
  problem.dim = dq.size(1);
  problem.keep = keep;
  problem.device = 0;
  return problem;
}

// The rounded inputs on the host, and their products in double with the fp32-accumulation
// tolerance of each.
struct RoundedInputs {
  at::Tensor q, p;  // float32 copies of the device's 16-bit values
  RoundedInputs(const at::Tensor& dq, const at::Tensor& dp)
      : q(dq.to(at::kFloat).cpu().contiguous()), p(dp.to(at::kFloat).cpu().contiguous()) {}

  // {sum, tolerance} of query i and row r.
  std::pair<double, double> product(int64_t i, int64_t r) const {
    const int64_t d = q.size(1);
    const float* a = q.data_ptr<float>() + i * d;
    const float* b = p.data_ptr<float>() + r * d;
    double sum = 0.0, absolute = 0.0;
    for (int64_t c = 0; c < d; ++c) {
      const double x = static_cast<double>(a[c]) * b[c];
      sum += x;
      absolute += std::abs(x);
    }
    return {sum, accumulateTolerance(d, absolute)};
  }
};

// The raw kernel on seeded random shapes against the double reference (see the top). The
// portable kernel (hopper Off): keep 1..256, odd seeds ask for the kernel compiled for the dim
// (D = 384, 768 on seeds 3, 5, 7). A Hopper kernel: keep 1..64, up to 300 queries (three query
// blocks of its 128); the one with queries in registers at D = 384 only, as single blocks or
// (cluster 2) as pairs of blocks sharing their row loads.
void checkKernelWindows(at::ScalarType dtype, FusedHopper hopperMode, int cluster = 1) {
  const bool hopper = hopperMode != FusedHopper::Off;
  const bool registers = hopperMode == FusedHopper::RegisterQueries;
  const int maxKeep = hopper ? kFusedTopKHopperMaxKeep : 256;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed * 7919 + (dtype == at::kHalf ? 1 : 0) +
                        2 * static_cast<int>(hopperMode) + 16 * (cluster - 1));
    // 8 .. 392, and the dims with a compile-time kernel.
    const int64_t drawn = 8 * std::uniform_int_distribution<int64_t>(1, 49)(rng);
    const int64_t d = registers || seed == 3 || seed == 7 ? 384 : seed == 5 ? 768 : drawn;
    const bool fixedDim = !hopper && seed % 2 == 1;
    const int keep = seed == 1 ? maxKeep : std::uniform_int_distribution<int>(1, maxKeep)(rng);
    const int64_t n = std::uniform_int_distribution<int64_t>(keep, 6000)(rng);
    const int64_t q =
        seed == 2 ? 1 : std::uniform_int_distribution<int64_t>(1, hopper ? 300 : 200)(rng);
    const int64_t rowOffset = std::uniform_int_distribution<int64_t>(0, 1 << 20)(rng);
    Matrix shard = clustered(rng, n, d);
    Matrix queries = clustered(rng, q, d);
    const at::Tensor dq = normalizedOnGpu(queries, dtype);
    const at::Tensor dp = normalizedOnGpu(shard, dtype);
    FusedTopKProblem problem = problemOf(dq, dp, keep);
    problem.fixedDimKernel = fixedDim;
    problem.hopper = hopperMode;
    problem.hopperCluster = cluster;
    const std::string kernel = fusedTopKKernelName(problem);
    const std::string where = "dtype=" + std::string(c10::toString(dtype)) +
                              " seed=" + std::to_string(seed) + " q=" + std::to_string(q) +
                              " n=" + std::to_string(n) + " d=" + std::to_string(d) +
                              " keep=" + std::to_string(keep) + " kernel " + kernel;
    ASSERT_EQ(fusedTopKUnsupported(problem), "") << where;
    ASSERT_EQ(kernel, registers && cluster == 2            ? "sm90-registers-x2"
                      : registers                          ? "sm90-registers"
                      : hopper                             ? "sm90-smem"
                      : fixedDim && (d == 384 || d == 768) ? "fixed-dim"
                                                           : "generic")
        << where;

    const size_t bytes = fusedTopKWorkspaceBytes(problem);
    ASSERT_GT(bytes, 0u) << where;
    const at::Tensor workspace =
        at::empty({static_cast<int64_t>(bytes)}, dq.options().dtype(at::kByte));
    at::Tensor scores = at::empty({q, keep}, dq.options().dtype(at::kFloat));
    at::Tensor rows = at::empty({q, keep}, dq.options().dtype(at::kLong));
    fusedTopK(problem, rowOffset, scores.data_ptr<float>(), rows.data_ptr<int64_t>(),
              workspace.data_ptr(), bytes);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << where << " " << fusedTopKHopperFault();
    scores = scores.cpu().contiguous();
    rows = rows.cpu().contiguous();
    const RoundedInputs inputs(dq, dp);
    std::vector<double> rounded(n), tolerance(n), exact(n);
    for (int64_t i = 0; i < q; ++i) {
      const std::string at = where + " query " + std::to_string(i);
      for (int64_t r = 0; r < n; ++r) {
        std::tie(rounded[r], tolerance[r]) = inputs.product(i, r);
        exact[r] = exactDot(queries.row(i).data(), shard.row(r).data(), d);
      }
      const float* s = scores.data_ptr<float>() + i * keep;
      const int64_t* w = rows.data_ptr<int64_t>() + i * keep;
      std::vector<bool> inWindow(n, false);
      for (int j = 0; j < keep; ++j) {
        const int64_t local = w[j] - rowOffset;
        ASSERT_TRUE(local >= 0 && local < n) << at << " slot " << j << " row " << w[j];
        ASSERT_FALSE(inWindow[local]) << at << " row " << w[j] << " twice";
        inWindow[local] = true;
        ASSERT_LE(std::abs(static_cast<double>(s[j]) - rounded[local]), tolerance[local])
            << at << " slot " << j << " row " << w[j] << " kernel " << s[j] << " reference "
            << rounded[local];
        if (j > 0) {
          ASSERT_TRUE(s[j - 1] > s[j] || (s[j - 1] == s[j] && w[j - 1] < w[j]))
              << at << " slots " << j - 1 << "," << j << " out of (score desc, row asc) order";
        }
      }
      // Nothing left out could have beaten the last entry.
      const double last = s[keep - 1];
      for (int64_t r = 0; r < n; ++r) {
        if (inWindow[r]) continue;
        ASSERT_LE(rounded[r], last + tolerance[r])
            << at << " row " << rowOffset + r << " left out, reference " << rounded[r] << " > last "
            << last;
      }
      // Every row of the exact top-keep that clears the (keep+1)-th exact score by 2 eps is in.
      if (keep < n) {
        std::vector<double> sorted = exact;
        std::nth_element(sorted.begin(), sorted.begin() + keep, sorted.end(), std::greater<>());
        const double next = sorted[keep];  // the (keep+1)-th best exact score
        const double eps = indexEpsilon(d, dtype);
        for (int64_t r = 0; r < n; ++r) {
          if (exact[r] <= next + 2 * eps) continue;
          ASSERT_TRUE(inWindow[r]) << at << " row " << rowOffset + r << " exact " << exact[r]
                                   << " clears " << next << " by more than 2 eps";
        }
      }
    }
  }
}

TEST_P(FusedTopKKernel, WindowIsOrderedCloseAndComplete) {
  ASSERT_TRUE(haveGpu());
  ASSERT_TRUE(fusedTopKAvailable());
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  checkKernelWindows(GetParam(), FusedHopper::Off);
}

// The Hopper tests are apart ("Hopper" in their names): scripts/gpu-check.sh runs them in a
// process of their own, so that a fault of that kernel cannot take the others' results along,
// and those of the opt-in pairs of blocks ("HopperPairs") in another. The matrix products
// first: where they are wrong, they say how.

// A Hopper kernel: its queries in shared memory or registers, in blocks of one or pairs (2).
struct HopperKernel {
  FusedHopper mode;
  int cluster;
};

// The Hopper kernel's matrix products alone (fusedTopKScores): every score of a few shapes
// (tails of queries, rows and dims; several row chunks) against the double products of the
// rounded inputs. A layout fault (swizzle, descriptor, accumulator map) puts scores in the
// wrong places: the failure names, for the first few, the (query, row) whose product the
// kernel wrote there instead.
void checkHopperScores(at::ScalarType dtype, const std::vector<HopperKernel>& kernels) {
  struct Shape {
    int64_t q, n, d;
  };
  std::mt19937_64 rng(4242);
  // Queries in shared memory at every shape; in registers at D = 384.
  for (const Shape shape :
       {Shape{1, 192, 64}, Shape{130, 400, 200}, Shape{300, 1000, 392}, Shape{64, 5000, 768},
        Shape{5, 7, 8}, Shape{300, 1000, 384}, Shape{1, 130, 384}, Shape{129, 2000, 384}}) {
    for (const auto& [mode, cluster] : kernels) {
      const auto [q, n, d] = shape;
      if (mode == FusedHopper::RegisterQueries && d != 384) continue;
      const std::string where = "dtype=" + std::string(c10::toString(dtype)) +
                                " q=" + std::to_string(q) + " n=" + std::to_string(n) +
                                " d=" + std::to_string(d) + " " +
                                (mode == FusedHopper::SharedQueries ? "smem"
                                 : cluster == 2                     ? "registers-x2"
                                                                    : "registers");
      Matrix shard = randomMatrix(rng, n, d);
      Matrix queries = randomMatrix(rng, q, d);
      const at::Tensor dq = normalizedOnGpu(queries, dtype);
      const at::Tensor dp = normalizedOnGpu(shard, dtype);
      FusedTopKProblem problem = problemOf(dq, dp, 1);
      problem.hopper = mode;
      problem.hopperCluster = cluster;
      at::Tensor out = at::full({q, n}, std::nan(""), dq.options().dtype(at::kFloat));
      ASSERT_EQ(fusedTopKScores(problem, out.data_ptr<float>()), "") << where;
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << where << " " << fusedTopKHopperFault();
      out = out.cpu().contiguous();
      const RoundedInputs inputs(dq, dp);
      std::vector<double> reference(static_cast<size_t>(q * n)), tolerance(reference.size());
      for (int64_t i = 0; i < q; ++i)
        for (int64_t r = 0; r < n; ++r)
          std::tie(reference[i * n + r], tolerance[i * n + r]) = inputs.product(i, r);
      const float* got = out.data_ptr<float>();
      int64_t wrong = 0;
      std::string first;
      for (int64_t slot = 0; slot < q * n; ++slot) {
        if (std::abs(got[slot] - reference[slot]) <= tolerance[slot]) continue;
        if (++wrong > 6) continue;
        first +=
            " (query " + std::to_string(slot / n) + ", row " + std::to_string(slot % n) + "): ";
        if (std::isnan(got[slot])) {
          first += "not written;";
          continue;
        }
        const auto nearest = std::min_element(
            reference.begin(), reference.end(),
            [&](double x, double y) { return std::abs(x - got[slot]) < std::abs(y - got[slot]); });
        const int64_t from = nearest - reference.begin();
        first += std::to_string(got[slot]) + " vs " + std::to_string(reference[slot]) +
                 ", nearest product (query " + std::to_string(from / n) + ", row " +
                 std::to_string(from % n) + ");";
      }
      EXPECT_EQ(wrong, 0) << where << ": " << wrong << " of " << q * n
                          << " scores wrong; the first:" << first;
    }
  }
}

TEST_P(FusedTopKKernel, HopperScoresEqualTheProducts) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperScores(GetParam(),
                    {{FusedHopper::SharedQueries, 1}, {FusedHopper::RegisterQueries, 1}});
}

// The pairs of blocks (odd query blocks pad a pair).
TEST_P(FusedTopKKernel, HopperPairsScoresEqualTheProducts) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperScores(GetParam(), {{FusedHopper::RegisterQueries, 2}});
}

TEST_P(FusedTopKKernel, HopperWindowIsOrderedCloseAndComplete) {
  ELEANOR_REQUIRE_HOPPER();
  checkKernelWindows(GetParam(), FusedHopper::SharedQueries);
  checkKernelWindows(GetParam(), FusedHopper::RegisterQueries);
}

TEST_P(FusedTopKKernel, HopperPairsWindowIsOrderedCloseAndComplete) {
  ELEANOR_REQUIRE_HOPPER();
  checkKernelWindows(GetParam(), FusedHopper::RegisterQueries, 2);
}

// The profiled build of a Hopper scan (fusedTopKPhases, the benchmark's phases rows): its sums
// account for the scan. Every row tile counted once per warp, the three phases inside the
// loop and most of it, thresholds cut at least once and the quick rejection failing on some
// tiles; without the selection, none of either. bfloat16 only: float16 says so.
void checkHopperPhases(at::ScalarType dtype, FusedHopper mode, int cluster) {
  // float16 only has to be refused: a small shard
  const int64_t q = 300, n = dtype == at::kBFloat16 ? 200000 : 1000;
  const int64_t d = mode == FusedHopper::RegisterQueries ? 384 : 392;
  std::mt19937_64 rng(77);
  Matrix shard = randomMatrix(rng, n, d);
  Matrix queries = randomMatrix(rng, q, d);
  const at::Tensor dq = normalizedOnGpu(queries, dtype);
  const at::Tensor dp = normalizedOnGpu(shard, dtype);
  FusedTopKProblem problem = problemOf(dq, dp, 64);
  problem.hopper = mode;
  problem.hopperCluster = cluster;
  FusedScanPhases out;
  const std::string why = fusedTopKPhases(problem, FusedScanVariant{}, out);
  if (dtype != at::kBFloat16) {
    EXPECT_NE(why.find("bfloat16"), std::string::npos) << why;
    return;
  }
  ASSERT_EQ(why, "") << fusedTopKHopperFault();
  // Query blocks of 128 (pairs: padded to an even count); each chunk's blocks count its tiles,
  // and the chunks (whole tiles each, the last shorter) hold every row tile once.
  const int64_t queryBlocks = ((q + 127) / 128 + cluster - 1) / cluster * cluster;
  ASSERT_GT(out.blocks, 0);
  ASSERT_EQ(out.blocks % queryBlocks, 0) << out.blocks;
  const double chunks = static_cast<double>(out.blocks / queryBlocks);
  const double tileRows = mode == FusedHopper::RegisterQueries ? 128 : 192;
  EXPECT_NEAR(out.tiles * chunks, std::ceil(static_cast<double>(n) / tileRows), 1e-6)
      << out.tiles << " tiles per warp, " << chunks << " chunks";
  const double phases = out.waitCycles + out.productCycles + out.selectCycles;
  EXPECT_LE(phases, out.loopCycles * 1.001);
  EXPECT_GE(phases, out.loopCycles * 0.5);
  EXPECT_GT(out.productCycles, 0);
  EXPECT_GT(out.selectCycles, 0);
  EXPECT_GE(out.cutRounds, 1.0);
  EXPECT_GT(out.slowTiles, 0.0);
  EXPECT_LE(out.slowTiles, 1.0);
  EXPECT_GT(out.milliseconds, 0.0);
  EXPECT_GT(out.megahertz, 100.0);
  EXPECT_LT(out.megahertz, 5000.0);
  EXPECT_EQ(out.kernel, mode == FusedHopper::SharedQueries ? "sm90-smem"
                        : cluster == 2                     ? "sm90-registers-x2"
                                                           : "sm90-registers");

  FusedScanPhases bare;
  FusedScanVariant productsOnly;
  productsOnly.select = false;
  ASSERT_EQ(fusedTopKPhases(problem, productsOnly, bare), "") << fusedTopKHopperFault();
  EXPECT_EQ(bare.cutRounds, 0.0);
  EXPECT_EQ(bare.slowTiles, 0.0);
  EXPECT_LT(bare.selectCycles, 0.1 * bare.loopCycles);
  EXPECT_EQ(bare.tiles, out.tiles);
}

// The profiled build's scans (the search's, and the alternatives the benchmark measures)
// give the search kernel's windows, score for score and row for row, on seeded random shapes
// (keep 1..64, tails of queries and rows, several chunks); and it declines what it does not
// build (the alternatives but narrow buffers outside sm90-registers, two of them at once).
void checkHopperAlternatives(at::ScalarType dtype, FusedHopper mode, int cluster) {
  if (dtype != at::kBFloat16) return;  // the profiled build is bfloat16's
  std::mt19937_64 rng(99 + cluster);
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 300)(rng);
    const int64_t n = std::uniform_int_distribution<int64_t>(64, 60000)(rng);
    const int64_t d = mode == FusedHopper::RegisterQueries ? 384 : 8 * (1 + rng() % 100);
    const int keep = static_cast<int>(std::uniform_int_distribution<int64_t>(1, 64)(rng));
    Matrix shard = randomMatrix(rng, n, d);
    Matrix queries = randomMatrix(rng, q, d);
    const at::Tensor dq = normalizedOnGpu(queries, dtype);
    const at::Tensor dp = normalizedOnGpu(shard, dtype);
    FusedTopKProblem problem = problemOf(dq, dp, keep);
    problem.hopper = mode;
    problem.hopperCluster = cluster;
    const auto window = [&] {
      return std::make_pair(at::empty({q, keep}, dq.options().dtype(at::kFloat)),
                            at::empty({q, keep}, dq.options().dtype(at::kLong)));
    };
    auto [scores, rows] = window();
    const size_t bytes = fusedTopKWorkspaceBytes(problem);
    ASSERT_GT(bytes, 0u) << fusedTopKUnsupported(problem);
    const at::Tensor workspace =
        at::empty({static_cast<int64_t>(bytes)}, dq.options().dtype(at::kByte));
    fusedTopK(problem, 0, scores.data_ptr<float>(), rows.data_ptr<int64_t>(), workspace.data_ptr(),
              bytes);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << fusedTopKHopperFault();
    const at::Tensor wantScores = scores.cpu(), wantRows = rows.cpu();

    std::vector<std::pair<std::string, FusedScanVariant>> variants(2);
    variants[0].first = "the search's scan, profiled";
    variants[1].first = "narrow buffers";
    variants[1].second.capacity = (keep + 31) / 32 * 32 + 32;
    // The other alternatives are built for the single-block registers kernel only.
    const bool alternatives = mode == FusedHopper::RegisterQueries && cluster == 1;
    if (alternatives) {
      variants.emplace_back("prefetches", FusedScanVariant{});
      variants.back().second.prefetchAhead = 1 + static_cast<int>(rng() % 20);
      variants.emplace_back("deep ring", FusedScanVariant{});
      variants.back().second.deepRing = true;
      variants.emplace_back("deep ring and prefetches", FusedScanVariant{});
      variants.back().second.deepRing = true;
      variants.back().second.prefetchAhead = 12;
      variants.emplace_back("grouped offer", FusedScanVariant{});
      variants.back().second.groupedOffer = true;
    }
    for (const auto& [name, variant] : variants) {
      const std::string where = name + ": q=" + std::to_string(q) + " n=" + std::to_string(n) +
                                " d=" + std::to_string(d) + " keep=" + std::to_string(keep);
      auto [gotScores, gotRows] = window();
      FusedScanPhases phases;
      ASSERT_EQ(fusedTopKPhases(problem, variant, phases, gotScores.data_ptr<float>(),
                                gotRows.data_ptr<int64_t>()),
                "")
          << where << " " << fusedTopKHopperFault();
      EXPECT_TRUE(at::equal(gotRows.cpu(), wantRows)) << where;
      EXPECT_TRUE(at::equal(gotScores.cpu(), wantScores)) << where;
    }
    FusedScanVariant both;
    both.groupedOffer = both.deepRing = true;
    FusedScanPhases phases;
    EXPECT_NE(fusedTopKPhases(problem, both, phases), "");
    if (!alternatives) {
      FusedScanVariant deep;
      deep.deepRing = true;
      EXPECT_NE(fusedTopKPhases(problem, deep, phases).find("sm90-registers"), std::string::npos);
    }
  }
}

TEST_P(FusedTopKKernel, HopperAlternativesGiveTheSearchKernelsWindows) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperAlternatives(GetParam(), FusedHopper::RegisterQueries, 1);
  checkHopperAlternatives(GetParam(), FusedHopper::SharedQueries, 1);
}

TEST_P(FusedTopKKernel, HopperPairsAlternativesGiveTheSearchKernelsWindows) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperAlternatives(GetParam(), FusedHopper::RegisterQueries, 2);
}

TEST_P(FusedTopKKernel, HopperPhasesAccountForTheScan) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperPhases(GetParam(), FusedHopper::RegisterQueries, 1);
  checkHopperPhases(GetParam(), FusedHopper::SharedQueries, 1);
}

TEST_P(FusedTopKKernel, HopperPairsPhasesAccountForTheScan) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperPhases(GetParam(), FusedHopper::RegisterQueries, 2);
}

// The floor scan (FusedTopKProblem::floorScan: a pass over one row tile in eight gives each
// query a floor, the key of its keep-th best sampled row; a second keeps every row above it)
// gives the search kernel's windows, score for score and row for row: seeded random and
// clustered shards of 65536 rows and more, keep 1..64, one query and tails of query blocks. The
// last shard has the rows farthest from the queries in its sampled tiles (0, 8, 16, ...): the
// floors are then near -1, nearly every row is above its floor, every list overflows (7/8 of
// the rows against at most 2048 places), and the windows come from the repair (the search's own
// scan for those query blocks): a repair that did not run would leave windows that lost rows.
// Below 65536 rows the search kernel serves. Apart ("HopperFloors" in the name): gpu-check
// runs these in a process of their own until the passes have run on a GPU.
void checkHopperFloors(at::ScalarType dtype) {
  std::mt19937_64 rng(4242 + (dtype == at::kHalf ? 1 : 0));
  const auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  constexpr int64_t d = 384;
  for (int trial = 0; trial < 6; ++trial) {
    const bool farSample = trial == 5;
    const int64_t q = trial == 0 ? 1 : trial == 1 ? 300 : uniform(2, 300);
    const int64_t n = trial == 1 ? 65536 : uniform(65537, 160000);
    const int keep = trial == 2 ? 64 : trial == 3 ? 1 : static_cast<int>(uniform(1, 64));
    Matrix shard = trial % 2 ? clustered(rng, n, d) : randomMatrix(rng, n, d);
    Matrix queries = clustered(rng, q, d);
    if (farSample) {  // queries near one direction u, the sampled tiles' rows near -u
      const Matrix u = randomMatrix(rng, 1, d);
      std::normal_distribution<float> noise(0.0f, 0.02f);
      for (int64_t i = 0; i < q; ++i)
        for (int64_t c = 0; c < d; ++c) queries.values[i * d + c] = u.values[c] + noise(rng);
      for (int64_t r = 0; r < n; ++r)
        if ((r / 128) % 8 == 0)
          for (int64_t c = 0; c < d; ++c) shard.values[r * d + c] = -u.values[c] + noise(rng);
    }
    const at::Tensor dq = normalizedOnGpu(queries, dtype);
    const at::Tensor dp = normalizedOnGpu(shard, dtype);
    FusedTopKProblem problem = problemOf(dq, dp, keep);
    problem.hopper = FusedHopper::Auto;
    const std::string where = std::string(c10::toString(dtype)) +
                              " trial=" + std::to_string(trial) + " q=" + std::to_string(q) +
                              " n=" + std::to_string(n) + " keep=" + std::to_string(keep);
    const int64_t rowOffset = uniform(0, 1 << 20);
    const auto windowOf = [&](bool floors) {
      problem.floorScan = floors;
      const size_t bytes = fusedTopKWorkspaceBytes(problem);
      EXPECT_GT(bytes, 0u) << where << " " << fusedTopKUnsupported(problem);
      const at::Tensor workspace = at::empty({static_cast<int64_t>(std::max<size_t>(bytes, 8))},
                                             dq.options().dtype(at::kByte));
      at::Tensor scores = at::empty({q, keep}, dq.options().dtype(at::kFloat));
      at::Tensor rows = at::empty({q, keep}, dq.options().dtype(at::kLong));
      const std::string kernel = fusedTopK(problem, rowOffset, scores.data_ptr<float>(),
                                           rows.data_ptr<int64_t>(), workspace.data_ptr(), bytes);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << where << " " << fusedTopKHopperFault();
      EXPECT_EQ(kernel, floors ? "sm90-registers-floors" : "sm90-registers") << where;
      if (floors) {
        EXPECT_EQ(fusedTopKFloorScanUnsupported(problem), "") << where;
      }
      return std::make_pair(scores.cpu(), rows.cpu());
    };
    const auto [wantScores, wantRows] = windowOf(false);
    const auto [gotScores, gotRows] = windowOf(true);
    ASSERT_TRUE(at::equal(gotRows, wantRows)) << where;
    ASSERT_TRUE(at::equal(gotScores, wantScores)) << where;
  }
  // Too few rows for a sample pass of its own: the search kernel serves, and says so.
  Matrix small = randomMatrix(rng, 65535, d);
  Matrix one = randomMatrix(rng, 1, d);
  const at::Tensor dq = normalizedOnGpu(one, dtype);
  const at::Tensor dp = normalizedOnGpu(small, dtype);
  FusedTopKProblem problem = problemOf(dq, dp, 10);
  problem.hopper = FusedHopper::Auto;
  problem.floorScan = true;
  EXPECT_EQ(fusedTopKKernelName(problem), "sm90-registers");
  EXPECT_NE(fusedTopKFloorScanUnsupported(problem).find("65536 rows"), std::string::npos)
      << fusedTopKFloorScanUnsupported(problem);
}

TEST_P(FusedTopKKernel, HopperFloorsGiveTheSearchKernelsWindows) {
  ELEANOR_REQUIRE_HOPPER();
  checkHopperFloors(GetParam());
}

TEST_P(FusedTopKKernel, SaysWhatItCannotDo) {
  ASSERT_TRUE(haveGpu());
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  const at::Tensor t =
      at::zeros({512, 64}, at::TensorOptions(at::Device(at::kCUDA, 0)).dtype(GetParam()));
  FusedTopKProblem problem;
  problem.dtype = GetParam() == at::kBFloat16 ? FusedDtype::BFloat16 : FusedDtype::Float16;
  problem.queries = t.data_ptr();
  problem.rows = t.data_ptr();
  problem.queryCount = 4;
  problem.rowCount = 512;
  problem.dim = 64;
  problem.keep = 10;
  EXPECT_EQ(fusedTopKUnsupported(problem), "");
  FusedTopKProblem bad = problem;
  bad.dim = 60;  // not a multiple of 8
  EXPECT_NE(fusedTopKUnsupported(bad), "");
  bad = problem;
  bad.keep = kFusedTopKMaxKeep + 1;
  EXPECT_NE(fusedTopKUnsupported(bad), "");
  bad = problem;
  bad.rowCount = 100;
  bad.keep = 101;  // more than the rows
  EXPECT_NE(fusedTopKUnsupported(bad), "");
  bad = problem;
  bad.rows = static_cast<const char*>(problem.rows) + 2;  // misaligned by one element
  EXPECT_NE(fusedTopKUnsupported(bad), "");
  EXPECT_THROW(fusedTopK(bad, 0, nullptr, nullptr, nullptr, 0), std::exception);
  EXPECT_EQ(fusedTopKUnsupported(problem), "") << "a refused problem leaves the kernel usable";
  // The Hopper kernel where asked for on a 9.0 device and the window fits it; else the
  // portable kernel, silently.
  FusedTopKProblem sm90 = problem;
  sm90.hopper = FusedHopper::Auto;  // dim 64: queries in shared memory
  EXPECT_EQ(fusedTopKKernelName(sm90), computeCapability() == 90 ? "sm90-smem" : "generic");
  sm90.hopper = FusedHopper::RegisterQueries;  // not at dim 64
  EXPECT_EQ(fusedTopKKernelName(sm90), "generic");
  EXPECT_NE(fusedTopKHopperUnsupported(sm90), "");
  sm90.hopper = FusedHopper::SharedQueries;
  EXPECT_EQ(fusedTopKHopperUnsupported(sm90) == "", computeCapability() == 90);
  sm90.keep = kFusedTopKHopperMaxKeep + 1;
  EXPECT_EQ(fusedTopKKernelName(sm90), "generic");
  EXPECT_NE(fusedTopKHopperUnsupported(sm90), "");
  EXPECT_EQ(fusedTopKKernelName(bad), "");
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedTopKKernel, ::testing::Values(at::kBFloat16, at::kHalf),
                         [](const auto& info) {
                           return std::string(info.param == at::kBFloat16 ? "bfloat16" : "float16");
                         });

struct Storage {
  const char* name;
  std::string dtype;
  bool offload;
  bool int8 = false;  // an int8 shard (per-row scales), searched by the fused kernel only with
                      // ELEANOR_FUSED_INT8=1 (FusedInt8Index)
};

// An environment variable set while it lives.
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name); }
  const char* name;
};

class FusedIndex : public ::testing::TestWithParam<Storage> {};

// The index on seeded random clustered shards (ties and near-ties; any width, so that the
// matrix path serves some) against the double brute force, and the fused kernel ran.
void checkAgainstBruteForce(const Storage& storage) {
  const int64_t callsBefore = fusedTileWindowCalls();
  int eligible = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    std::mt19937_64 rng(seed * 104729 + (storage.offload ? 1 : 0));
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 8000)(rng);
    // Even seeds: a multiple of 8 (the kernel); odd seeds: any width (often the matrix path).
    const int64_t d = seed % 2 == 0 ? 8 * std::uniform_int_distribution<int64_t>(1, 50)(rng)
                                    : std::uniform_int_distribution<int64_t>(8, 400)(rng);
    const int64_t q = std::uniform_int_distribution<int64_t>(1, 160)(rng);
    const int k = seed == 3 ? 256 : std::uniform_int_distribution<int>(1, 224)(rng);
    const Matrix shard = clustered(rng, n, d);
    Matrix queries = clustered(rng, q, d);
    normalizeRows(queries);
    if (d % 8 == 0 && fusedWindowKeep(k) > 0) ++eligible;

    SearchOptions gpu;
    gpu.cudaDevice = 0;
    gpu.kernel = "fused";
    gpu.dtype = storage.dtype;
    gpu.offloadToCpu = storage.offload;
    gpu.int8 = storage.int8;
    gpu.memoryBudgetBytes = std::uniform_int_distribution<int64_t>(1, 16)(rng) << 20;
    const int64_t rowOffset = 1000 + static_cast<int64_t>(seed);
    auto index = makeShardIndex(shard, rowOffset, gpu);
    std::vector<Candidate> got;
    index->search(queries, k, got);

    Matrix normalised = shard;
    normalizeRows(normalised);
    const std::vector<Candidate> expected = bruteForce(normalised, rowOffset, queries, k);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].row, expected[i].row)
          << storage.name << " seed=" << seed << " n=" << n << " d=" << d << " q=" << q
          << " k=" << k << " query " << i / k << " slot " << i % k;
      ASSERT_EQ(got[i].score, expected[i].score)
          << storage.name << " seed=" << seed << " slot " << i;
    }
    ::testing::Test::RecordProperty(std::string("rescanned_") + std::to_string(seed),
                                    std::to_string(index->stats().rescannedQueries));
  }
  ASSERT_GT(eligible, 0);
  EXPECT_GT(fusedTileWindowCalls(), callsBefore) << "the fused kernel never ran";
}

TEST_P(FusedIndex, EqualsBruteForceInDouble) {
  ASSERT_TRUE(haveGpu());
  checkAgainstBruteForce(GetParam());
}

// More near-ties than the fused window holds (400 rows within the bf16/fp16 error band of each
// other, k = 10, a window of 64): every query's window cannot be proven complete, so the index
// rescans it on the matrix path, whose scores come rounded to 16 bits where the kernel's are
// float32 (the floors are lowered for that rounding). The answer is still the double one.
void checkNearTies(const Storage& storage) {
  std::mt19937_64 rng(2718);
  const int64_t d = 384, ties = 400, others = 3000, q = 24;
  const int k = 10;
  const Matrix base = randomMatrix(rng, 1, d);
  Matrix shard = randomMatrix(rng, ties + others, d);
  std::normal_distribution<float> noise(0.0f, 1e-3f);
  for (int64_t r = 0; r < ties; ++r)
    for (int64_t c = 0; c < d; ++c) shard.values[r * d + c] = base.values[c] + noise(rng);
  Matrix queries(q, d);
  std::normal_distribution<float> spread(0.0f, 0.05f);
  for (float& v : queries.values) v = spread(rng);
  for (int64_t i = 0; i < q; ++i)
    for (int64_t c = 0; c < d; ++c) queries.values[i * d + c] += base.values[c];
  normalizeRows(queries);

  SearchOptions gpu;
  gpu.cudaDevice = 0;
  gpu.kernel = "fused";
  gpu.dtype = storage.dtype;
  gpu.offloadToCpu = storage.offload;
  gpu.int8 = storage.int8;
  const int64_t callsBefore = fusedTileWindowCalls();
  auto index = makeShardIndex(shard, 0, gpu);
  std::vector<Candidate> got;
  index->search(queries, k, got);
  EXPECT_GT(fusedTileWindowCalls(), callsBefore) << "the fused kernel never ran";
  EXPECT_GT(index->stats().rescannedQueries, 0) << "no window needed a rescan";

  Matrix normalised = shard;
  normalizeRows(normalised);
  const std::vector<Candidate> expected = bruteForce(normalised, 0, queries, k);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].row, expected[i].row)
        << storage.name << " query " << i / k << " slot " << i % k;
    ASSERT_EQ(got[i].score, expected[i].score) << storage.name << " slot " << i;
  }
}

TEST_P(FusedIndex, NearTiesRescanAndStayExact) {
  ASSERT_TRUE(haveGpu());
  checkNearTies(GetParam());
}

// Environment variables set for one search (name, value), unset after it.
using Switches = std::vector<std::pair<std::string, std::string>>;

// The data of the at-scale comparisons (300k x 384, 1030 queries), drawn once per process:
// drawing it took some 3 s of the GPU machine's time per comparison.
struct ScaleData {
  Matrix shard, queries;
  std::map<std::string, std::vector<Candidate>> expected;  // the matrix path's, by storage and k
};
ScaleData& scaleData() {
  static ScaleData data = [] {
    ScaleData d;
    std::mt19937_64 rng(99);
    d.shard = randomMatrix(rng, 300007, 384);
    d.queries = randomMatrix(rng, 1030, 384);
    normalizeRows(d.queries);
    return d;
  }();
  return data;
}

// The same search from the matrix path and from the fused path with the kernel that
// `switches` choose (none: the default), on `storage`: many row chunks and query blocks.
void agreeAtScale(const Storage& storage, const Switches& switches, const std::string& kernel,
                  int k = 10) {
  ScaleData& data = scaleData();
  const Matrix& shard = data.shard;
  const Matrix& queries = data.queries;
  SearchOptions gpu;
  gpu.cudaDevice = 0;
  gpu.dtype = storage.dtype;
  gpu.offloadToCpu = storage.offload;
  gpu.int8 = storage.int8;
  gpu.kernel = "matmul";
  std::vector<Candidate>& expected =
      data.expected[std::string(storage.name) + "/" + std::to_string(k)];
  if (expected.empty()) makeShardIndex(shard, 0, gpu)->search(queries, k, expected);
  std::vector<Candidate> got;
  gpu.kernel = "fused";
  std::string where = std::string(storage.name) + " k=" + std::to_string(k);
  for (const auto& [name, value] : switches) {
    setenv(name.c_str(), value.c_str(), 1);
    where += " " + name + "=" + value;
  }
  const int64_t callsBefore = fusedTileWindowCalls();
  const auto index = makeShardIndex(shard, 0, gpu);
  index->search(queries, k, got);
  for (const auto& [name, value] : switches) unsetenv(name.c_str());
  EXPECT_GT(fusedTileWindowCalls(), callsBefore) << where << ": the fused kernel never ran";
  EXPECT_EQ(fusedTileWindowLastKernel(), kernel) << where;
  // The report's "devices" names the path and kernel that served the search.
  EXPECT_NE(index->stats().placement.find(" fused " + kernel), std::string::npos)
      << where << ": " << index->stats().placement;
  ASSERT_EQ(got.size(), expected.size()) << where;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].row, expected[i].row) << where << " slot " << i;
    ASSERT_EQ(got[i].score, expected[i].score) << where << " slot " << i;
  }
}

// From the default kernel (a Hopper one on a 9.0 device, else the portable one compiled for
// D = 384), and with the Hopper kernels off: the one compiled for the dim, and the one for any
// dim (ELEANOR_FUSED_FIXED_DIM=0).
TEST_P(FusedIndex, AgreesWithTheMatrixPathAtScale) {
  ASSERT_TRUE(haveGpu());
  agreeAtScale(GetParam(), {}, computeCapability() == 90 ? "sm90-registers" : "fixed-dim");
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_SM90", "0"}}, "fixed-dim");
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_SM90", "0"}, {"ELEANOR_FUSED_FIXED_DIM", "0"}},
               "generic");
}

// From the other Hopper kernel (ELEANOR_FUSED_SM90=smem: queries in shared memory; the default
// at D = 384, queries in registers, is AgreesWithTheMatrixPathAtScale's), from the default at
// k = 20, where the index takes the narrower window (k + 32 -> 64) that a Hopper kernel keeps.
TEST_P(FusedIndex, HopperAgreesWithTheMatrixPathAtScale) {
  ELEANOR_REQUIRE_HOPPER();
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_SM90", "smem"}}, "sm90-smem");
  agreeAtScale(GetParam(), {}, "sm90-registers", 20);
}

// And from the registers kernel in pairs of blocks (ELEANOR_FUSED_SM90_CLUSTER=2).
TEST_P(FusedIndex, HopperPairsAgreeWithTheMatrixPathAtScale) {
  ELEANOR_REQUIRE_HOPPER();
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_SM90_CLUSTER", "2"}}, "sm90-registers-x2");
}

// And from the floor scan (ELEANOR_FUSED_FLOORS=1), at k = 10 and 20, on a resident shard (an
// offloaded one comes in copies whose sizes the memory budget sets, some below the floor
// scan's 65536 rows).
TEST_P(FusedIndex, HopperFloorsAgreeWithTheMatrixPathAtScale) {
  ELEANOR_REQUIRE_HOPPER();
  if (GetParam().offload) GTEST_SKIP() << "the floor scan's test is on a resident shard";
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_FLOORS", "1"}}, "sm90-registers-floors");
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_FLOORS", "1"}}, "sm90-registers-floors", 20);
}

INSTANTIATE_TEST_SUITE_P(Storages, FusedIndex,
                         ::testing::Values(Storage{"bfloat16", "bfloat16", false},
                                           Storage{"float16", "float16", false},
                                           Storage{"bfloat16_offloaded", "bfloat16", true},
                                           Storage{"float16_offloaded", "float16", true}),
                         [](const auto& info) { return std::string(info.param.name); });

// int8 shards through the fused kernel (ELEANOR_FUSED_INT8=1: the portable kernel widens the
// bytes to float16 exactly and scales each row's products; float16 queries): the double answer
// on random and near-tie shards, and the matrix path's at scale, from the kernel compiled for
// D = 384 and the one for any dim. Apart ("FusedInt8" in their names): gpu-check runs them in a
// process of their own until the kernel has run on a GPU.
class FusedInt8Index : public ::testing::TestWithParam<Storage> {};

TEST_P(FusedInt8Index, EqualsBruteForceInDouble) {
  ASSERT_TRUE(haveGpu());
  const ScopedEnv fusedInt8("ELEANOR_FUSED_INT8", "1");
  checkAgainstBruteForce(GetParam());
}

TEST_P(FusedInt8Index, NearTiesRescanAndStayExact) {
  ASSERT_TRUE(haveGpu());
  const ScopedEnv fusedInt8("ELEANOR_FUSED_INT8", "1");
  checkNearTies(GetParam());
}

TEST_P(FusedInt8Index, AgreesWithTheMatrixPathAtScale) {
  ASSERT_TRUE(haveGpu());
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_INT8", "1"}}, "fixed-dim-int8");
  agreeAtScale(GetParam(), {{"ELEANOR_FUSED_INT8", "1"}, {"ELEANOR_FUSED_FIXED_DIM", "0"}},
               "generic-int8");
}

// Without the switch an int8 shard stays on the matrix path.
TEST_P(FusedInt8Index, OptInOnly) {
  ASSERT_TRUE(haveGpu());
  std::mt19937_64 rng(31);
  SearchOptions gpu;
  gpu.cudaDevice = 0;
  gpu.kernel = "fused";
  gpu.int8 = true;
  gpu.offloadToCpu = GetParam().offload;
  Matrix queries = randomMatrix(rng, 8, 64);
  normalizeRows(queries);
  const int64_t callsBefore = fusedTileWindowCalls();
  std::vector<Candidate> got;
  makeShardIndex(randomMatrix(rng, 1000, 64), 0, gpu)->search(queries, 10, got);
  EXPECT_EQ(fusedTileWindowCalls(), callsBefore);
  EXPECT_EQ(got.size(), size_t{80});
}

INSTANTIATE_TEST_SUITE_P(Storages, FusedInt8Index,
                         ::testing::Values(Storage{"int8", "bfloat16", false, true},
                                           Storage{"int8_offloaded", "bfloat16", true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace eleanor
