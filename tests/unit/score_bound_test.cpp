// exact_topk.h's ScoreBound, which every exact answer rests on: it must hold for every pair of
// query and row, on the worst cases of rounding (each of its terms shown necessary) and on real
// bfloat16 products from LibTorch, and its floor must be where the errors of both sides meet.
#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/support/search_reference.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/rounding_residual.h"

namespace eleanor {
namespace {

double allowed(const ScoreBound& bound, double approximate) {
  return bound.fixed + bound.relative * std::abs(approximate);
}

TEST(ScoreBound, TheFloorIsWhereTheErrorsOfBothSidesMeet) {
  const ScoreBound plain{0.01, 0.0};
  EXPECT_DOUBLE_EQ(plain.floor(0.3), 0.3 - 0.02);
  EXPECT_DOUBLE_EQ(plain.floor(-0.3), -0.3 - 0.02);
  EXPECT_EQ(plain.floor(-INFINITY), -INFINITY);

  // With scores rounded too: the lowest score a row of the exact top-k can show, a, is where
  // its largest error upwards meets the k-th's largest error downwards.
  const ScoreBound rounded{0.003, 0.004};
  double previous = -INFINITY;
  for (const double tau : {-0.9, -0.2, -0.004, 0.0, 0.001, 0.007, 0.25, 1.0}) {
    const double a = rounded.floor(tau);
    EXPECT_NEAR(a + allowed(rounded, a), tau - allowed(rounded, tau), 1e-15) << "tau=" << tau;
    EXPECT_GT(a, previous) << "the floor rises with the k-th; tau=" << tau;
    EXPECT_LT(a, tau - 2 * rounded.fixed) << "tau=" << tau;
    previous = a;
  }
  EXPECT_EQ(rounded.floor(-INFINITY), -INFINITY);
}

// Every element of a unit vector just under half a step above a power of two, so that each
// rounds down by almost the unit roundoff, all the same way: the worst case for the inputs.
template <class Narrow>
std::vector<float> worstCaseVector(int bits) {
  const float x = 0.125f * (1.0f + 0.99f * static_cast<float>(unitRoundoff(bits)));
  return std::vector<float>(64, x);  // 64 elements of ~1/8: unit length
}

template <class Narrow>
void expectWorstCaseInputsBounded(int bits) {
  const std::vector<float> v = worstCaseVector<Narrow>(bits);
  const int64_t d = static_cast<int64_t>(v.size());
  std::vector<float> rounded;
  for (const float x : v) rounded.push_back(static_cast<float>(Narrow(x)));
  double exact = 0;
  float sum = 0;  // float32 sums of exact products, as the matrix units do
  for (int64_t i = 0; i < d; ++i) {
    exact += static_cast<double>(v[i]) * v[i];
    sum += rounded[i] * rounded[i];
  }
  const double error = std::abs(static_cast<double>(sum) - exact);
  const double residual = residualNorm(v.data(), rounded.data(), d);
  EXPECT_NEAR(residual, 0.99 * unitRoundoff(bits), 0.01 * unitRoundoff(bits));
  // Query and row are the same vector here.
  EXPECT_LE(error, allowed(scoreBound(d, norm(v), residual, residual), sum)) << "bits=" << bits;
  // Both roundings count: leave out the row's (or, the same here, the query's) and the worst
  // case is above the bound.
  EXPECT_GT(error, allowed(scoreBound(d, norm(v), residual, 0.0), sum)) << "bits=" << bits;
}

TEST(ScoreBound, HoldsForTheWorstCaseOfRoundedInputsAndNeedsBothOfThem) {
  expectWorstCaseInputsBounded<c10::BFloat16>(kBfloat16Bits);
  expectWorstCaseInputsBounded<c10::Half>(kFloat16Bits);
}

TEST(ScoreBound, HoldsForTheWorstCaseOfARoundedScoreAndNeedsItsRelativeTerm) {
  // Query and row exact in bfloat16 (no input error), their product just under half a step
  // above 0.5, so that rounding the score to bfloat16 errs by almost its unit roundoff.
  const std::vector<float> q = {0.5f, 0.5f, 0.5f, 0.5f};
  const std::vector<float> p = {0.5f, 0.5f, std::ldexp(253.0f, -16), 0.0f};
  const double exact = 0.5 + std::ldexp(253.0, -17);
  const float sum = 0.25f + 0.25f + 0.5f * std::ldexp(253.0f, -16);
  ASSERT_EQ(static_cast<double>(sum), exact);
  const double approximate = static_cast<float>(c10::BFloat16(sum));
  const double error = std::abs(approximate - exact);
  EXPECT_GT(error, 0.98 * unitRoundoff(kBfloat16Bits) * exact);
  const ScoreBound bound = scoreBound(4, norm(q), 0.0, 0.0, unitRoundoff(kBfloat16Bits));
  EXPECT_LE(error, allowed(bound, approximate));
  EXPECT_GT(error, allowed(scoreBound(4, norm(q), 0.0, 0.0), approximate));
}

TEST(ScoreBound, LibTorchRoundsBfloat16ScoresToNearest) {
  // The relative term is the unit roundoff of rounding to nearest; a product that truncated
  // its float32 sum to bfloat16 would err by up to twice that. Sums just above and just below
  // a half step between bfloat16 neighbours of 0.5 (steps of 2^-8 there), exact in float32.
  // p2 exact in bfloat16; the sum 0.5 + p2 / 2 lies 0.25, 0.49, 0.51 and 0.75 of a step up.
  int roundedUp = 0;  // the last two: where rounding to nearest and truncating differ
  for (const float p2 : {std::ldexp(128.0f, -16), std::ldexp(251.0f, -16), std::ldexp(131.0f, -15),
                         std::ldexp(192.0f, -15)}) {
    const at::Tensor q = at::full({1, 4}, 0.5, at::kBFloat16);
    const at::Tensor p = at::tensor({0.5f, 0.5f, p2, 0.0f}).to(at::kBFloat16).reshape({1, 4});
    ASSERT_EQ(p[0][2].item<float>(), p2) << "p2 must be exact in bfloat16";
    const float sum = 0.5f + 0.5f * p2;  // exact in float32
    const float nearest = static_cast<float>(c10::BFloat16(sum));
    roundedUp += nearest > sum;
    EXPECT_EQ(at::mm(q, p.t()).item<float>(), nearest) << "p2 = " << p2;
  }
  EXPECT_EQ(roundedUp, 2);
}

// Rows that round in unusual ways (normalised later): one-hot (exact in bfloat16), constant,
// one large element among tiny ones, alternating signs of growing size.
Matrix awkwardRows(int64_t d) {
  Matrix m(4, d);
  m.values[0] = 1.0f;
  for (int64_t j = 0; j < d; ++j) {
    m.values[1 * d + j] = 1.0f;
    m.values[2 * d + j] = j == 0 ? 1.0f : 1e-30f * static_cast<float>(j);
    m.values[3 * d + j] = (j % 2 ? -1.0f : 1.0f) * (1.0f + static_cast<float>(j) / d);
  }
  return m;
}

TEST(ScoreBound, HoldsForEveryPairOfRealBfloat16ProductsAndIsMeasuredNotWorstCase) {
  // The CPU index's arithmetic (bfloat16 in, float32 sums in oneDNN, bfloat16 out) and the
  // float32 index's, on seeded random queries and rows plus awkward ones, every pair checked
  // against the exact double product.
  std::mt19937_64 rng(5);
  for (const int64_t d : {7, 96, 384}) {
    Matrix rows = reference::randomMatrix(rng, 1500, d);
    const Matrix awkward = awkwardRows(d);
    rows.values.insert(rows.values.end(), awkward.values.begin(), awkward.values.end());
    rows.rows += awkward.rows;
    Matrix queries = reference::randomMatrix(rng, 40, d);
    normalizeRows(rows);
    normalizeRows(queries);
    const at::Tensor rowView = at::from_blob(rows.values.data(), {rows.rows, d}, at::kFloat);
    const at::Tensor queryView =
        at::from_blob(queries.values.data(), {queries.rows, d}, at::kFloat);
    const at::Tensor rows16 = rowView.to(at::kBFloat16), queries16 = queryView.to(at::kBFloat16);
    const double rowResidual = largestRoundingResidual(
        rows, [&](int64_t r0, int64_t r1) { return rows16.slice(0, r0, r1); });
    const std::vector<double> queryResidual = roundingResiduals(queries.values.data(), queries16);
    const at::Tensor bf16Scores = at::mm(queries16, rows16.t()).to(at::kFloat).contiguous();
    const at::Tensor floatScores = at::mm(queryView, rowView.t()).contiguous();
    const float* scores16 = bf16Scores.data_ptr<float>();
    const float* scores32 = floatScores.data_ptr<float>();
    double worst = 0;
    for (int64_t i = 0; i < queries.rows; ++i) {
      const double length = norm(queries.row(i));
      const ScoreBound bf16 =
          scoreBound(d, length, queryResidual[i], rowResidual, unitRoundoff(kBfloat16Bits));
      const ScoreBound fp32 = scoreBound(d, length, 0.0, 0.0);
      for (int64_t r = 0; r < rows.rows; ++r) {
        const double exact = exactDot(queries.row(i).data(), rows.row(r).data(), d);
        const double a16 = scores16[i * rows.rows + r], a32 = scores32[i * rows.rows + r];
        ASSERT_LE(std::abs(a16 - exact), allowed(bf16, a16))
            << "d=" << d << " q=" << i << " r=" << r;
        ASSERT_LE(std::abs(a32 - exact), allowed(fp32, a32))
            << "d=" << d << " q=" << i << " r=" << r;
      }
      if (d >= 96) worst = std::max(worst, bf16.fixed / unitRoundoff(kBfloat16Bits));
    }
    // Random vectors round by ~0.4 of the unit roundoff in norm, not the worst case's 1: the
    // measured bound is ~1 unit roundoff where the worst-case one is 2 (3 with the score's).
    if (d >= 96) {
      EXPECT_LT(worst, 1.3) << "d=" << d;
      EXPECT_GT(worst, 0.6) << "d=" << d;
    }
  }
}

}  // namespace
}  // namespace eleanor
