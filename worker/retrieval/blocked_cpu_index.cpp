#include "worker/retrieval/blocked_cpu_index.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/error.h"
#include "common/host_memory.h"
#include "common/process_identity.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/rounding_residual.h"

namespace eleanor {
namespace {

// Tile shape: a query block times a run of shard rows. The sgemm wants many queries per call
// (each call packs its shard rows once; 256-query blocks ran about 20% slower than 1024) and
// long runs; the heaps want the tile's scores (16 MiB here) still in cache when they read them.
// On a 2-core Xeon (AVX-512, 2 MiB L2 per core), 1024 × 100k × 384: 1024 × 2048 to 1024 × 16384
// ran within the noise of each other.
constexpr int64_t kQueryBlock = 1024;
constexpr int64_t kTileRows = 4096;

float widen(float value) {
  return value;
}

// bfloat16 is the upper half of a float32: widening is a shift.
float widenBfloat16Bits(uint16_t bits) {
  return std::bit_cast<float>(uint32_t{bits} << 16);
}

float widen(at::BFloat16 value) {
  return widenBfloat16Bits(value.x);
}

// The scan of the selection, built for AVX-512, AVX2 and the baseline and picked at load time
// (the rest of the project targets the baseline x86-64).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ELEANOR_SCAN_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ELEANOR_SCAN_CLONES
#endif

// The index of the first of values[from, count) above t (NaN never is), or count. Whole chunks
// are tested first, so that the compiler vectorises the compare.
template <class Bits, class Widen>
inline int64_t firstAboveIn(const Bits* values, int64_t from, int64_t count, float t,
                            Widen widenBits) {
  constexpr int64_t kChunk = 32;
  int64_t j = from;
  for (; j + kChunk <= count; j += kChunk) {
    int hit = 0;
    for (int64_t i = 0; i < kChunk; ++i) hit |= widenBits(values[j + i]) > t;
    if (hit) break;
  }
  for (; j < count; ++j)
    if (widenBits(values[j]) > t) return j;
  return count;
}

ELEANOR_SCAN_CLONES
int64_t firstAbove(const float* values, int64_t from, int64_t count, float t) {
  return firstAboveIn(values, from, count, t, [](float v) { return widen(v); });
}

ELEANOR_SCAN_CLONES
int64_t firstAbove(const at::BFloat16* values, int64_t from, int64_t count, float t) {
  static_assert(sizeof(at::BFloat16) == sizeof(uint16_t));
  return firstAboveIn(reinterpret_cast<const uint16_t*>(values), from, count, t, widenBfloat16Bits);
}

struct Entry {
  float value;
  int64_t row;
};

bool betterFirst(const Entry& a, const Entry& b) {
  return a.value > b.value;
}

// A query's window: its k best scores so far and every score at or above the floor of the k-th
// of them (exact_topk.h), which is exactly what is needed to prove the top-k, however many rows
// that is (a fixed-length window overflows on near-duplicate rows and bfloat16's coarse
// scores, and each overflow costs another pass over the shard). Scores at or above the gate
// (the floor of the k-th so far) are appended; when the room fills, one nth_element finds the
// k-th, raises the gate and drops what fell below it. O(1) amortised per admitted score.
// Past `cap` rows the window keeps the best `cap` and says it is incomplete (exactTopK then
// scans for that query again).
class Window {
 public:
  Window(int64_t k, ScoreBound bound, int64_t cap) : k_(k), bound_(bound), cap_(cap) {
    room_ = std::max<int64_t>(2 * k_ + 32, 64);
    entries_.reserve(static_cast<size_t>(room_));
  }

  // Offers scores[0, count) of rows firstRow... (float32, or bfloat16 widened here).
  template <class Score>
  void offer(const Score* scores, int64_t count, int64_t firstRow) {
    int64_t j = 0;
    // The first k rows enter unconditionally (a NaN as -inf), so that the k-th is defined.
    for (; j < count && static_cast<int64_t>(entries_.size()) < k_; ++j) {
      const float value = widen(scores[j]);
      entries_.push_back({std::isnan(value) ? -INFINITY : value, firstRow + j});
    }
    // Nearly every score fails the one compare against the gate: scan for the next that
    // passes (vectorised), admit it, go on.
    for (j = firstAbove(scores, j, count, below_); j < count;
         j = firstAbove(scores, j + 1, count, below_)) {
      entries_.push_back({widen(scores[j]), firstRow + j});
      if (static_cast<int64_t>(entries_.size()) >= room_) shrink();
    }
  }

  // Drops what fell below the final gate and sorts the window best first (call once, at the
  // end); complete() says whether it holds every row at or above the final k-th's floor.
  void finish() {
    if (static_cast<int64_t>(entries_.size()) > k_) shrink();
    std::sort(entries_.begin(), entries_.end(), betterFirst);
  }
  const std::vector<Entry>& entries() const { return entries_; }
  bool complete() const { return !capped_; }

 private:
  void shrink() {
    std::nth_element(entries_.begin(), entries_.begin() + (k_ - 1), entries_.end(), betterFirst);
    const float gate = floatAtOrBelow(bound_.floor(entries_[k_ - 1].value));
    if (gate > gate_) {
      gate_ = gate;
      below_ = std::nextafter(gate_, -INFINITY);  // firstAbove's strict compare admits the gate
    }
    std::erase_if(entries_, [&](const Entry& e) { return e.value < gate_; });
    if (static_cast<int64_t>(entries_.size()) > cap_) {
      std::nth_element(entries_.begin(), entries_.begin() + (cap_ - 1), entries_.end(),
                       betterFirst);
      entries_.resize(static_cast<size_t>(cap_));
      gate_ = std::max(gate_, entries_[cap_ - 1].value);
      below_ = gate_;  // strictly above the cut from now on: the window stops short of the floor
      capped_ = true;
    }
    room_ = std::max(room_, std::min(2 * static_cast<int64_t>(entries_.size()), 2 * cap_));
  }

  int64_t k_;
  ScoreBound bound_;
  int64_t cap_;
  int64_t room_;
  float gate_ = -INFINITY;   // scores at or above it are kept
  float below_ = -INFINITY;  // the float just under the gate (firstAbove's bound)
  bool capped_ = false;
  std::vector<Entry> entries_;
};

class BlockedCpuShardIndex : public ShardIndex {
 public:
  BlockedCpuShardIndex(Matrix shard, int64_t rowOffset, SearchOptions options)
      : host_(std::move(shard)), rowOffset_(rowOffset), options_(std::move(options)) {
    normalizeRows(host_);
    threads_ = options_.threads > 0 ? options_.threads : at::get_num_threads();
    bf16_ = options_.cpuDtype == "bfloat16";
    stats_.placement = bf16_ ? "cpu bfloat16 fused" : "cpu float32 fused";
    stats_.storageBytes = static_cast<int64_t>(host_.values.size() * sizeof(float));
    if (bf16_ && host_.rows > 0) {
      // The rows as scored; host_ stays for the exact rescoring.
      scored16_ = hostView(host_.values.data(), host_.rows).to(at::kBFloat16);
      stats_.storageBytes += scored16_.numel() * 2;
      rowResidual_ = largestRoundingResidual(
          host_, [&](int64_t r0, int64_t r1) { return scored16_.slice(0, r0, r1); });
    }
  }

  int64_t rows() const override { return host_.rows; }
  int64_t dim() const override { return host_.cols; }
  int64_t rowOffset() const override { return rowOffset_; }
  SearchStats stats() const override { return stats_; }

  void search(const Matrix& queries, int k, std::vector<Candidate>& out) override {
    if (!startSearch(host_, queries, k, stats_, out)) return;
    const int64_t block = std::min<int64_t>(
        queries.rows, std::clamp<int64_t>(options_.maxQueryBlock, 1, kQueryBlock));
    for (int64_t q0 = 0; q0 < queries.rows; q0 += block)
      searchBlock(queries, q0, std::min(block, queries.rows - q0), k, out);
    if (stats_.smallestQueryBlock == 0 || block < stats_.smallestQueryBlock)
      stats_.smallestQueryBlock = block;
  }

 private:
  at::Tensor hostView(float* values, int64_t rows) const {
    return at::from_blob(values, {rows, host_.cols}, at::kFloat);
  }

  // `count` query rows at `q` as they are scored: a float32 view, or a bfloat16 copy.
  at::Tensor asScored(const float* q, int64_t count) const {
    const at::Tensor view = hostView(const_cast<float*>(q), count);
    return bf16_ ? view.to(at::kBFloat16) : view;
  }

  // Calls visit(scores, t0, t1) for each tile of rows [t0, t1) of the shard, in order, with
  // `scores` the products of the query rows `scoredQueries` (asScored) with those rows (count ×
  // (t1 - t0), row-major, in a buffer reused from tile to tile): float32 from the BLAS, or
  // bfloat16 from oneDNN (bfloat16 inputs, float32 accumulation) when the shard is scored in
  // bfloat16.
  template <class Visit>
  void forEachTile(const at::Tensor& scoredQueries, Visit&& visit) {
    const int64_t n = host_.rows, count = scoredQueries.size(0);
    const int64_t scoreBytes = bf16_ ? 2 : 4;
    const int64_t budgetRows =
        options_.memoryBudgetBytes / std::max<int64_t>(count * scoreBytes, 1);
    const int64_t tileRows = std::clamp<int64_t>(std::min(kTileRows, budgetRows), 1, n);
    if (bf16_) {
      for (int64_t t0 = 0; t0 < n; t0 += tileRows) {
        const int64_t t1 = std::min(n, t0 + tileRows);
        if (tile16_.numel() < count * (t1 - t0))
          tile16_ = at::empty({count * tileRows}, at::kBFloat16);
        at::Tensor scores = tile16_.narrow(0, 0, count * (t1 - t0)).view({count, t1 - t0});
        at::mm_out(scores, scoredQueries, scored16_.slice(0, t0, t1).t());
        visit(static_cast<const at::BFloat16*>(scores.data_ptr<at::BFloat16>()), t0, t1);
      }
      return;
    }
    buffer_.resize(static_cast<size_t>(count * tileRows));
    const at::Tensor shardView = hostView(host_.values.data(), n);
    for (int64_t t0 = 0; t0 < n; t0 += tileRows) {
      const int64_t t1 = std::min(n, t0 + tileRows);
      at::Tensor scores = at::from_blob(buffer_.data(), {count, t1 - t0}, at::kFloat);
      at::mm_out(scores, scoredQueries, shardView.slice(0, t0, t1).t());
      visit(static_cast<const float*>(buffer_.data()), t0, t1);
    }
  }

  void searchBlock(const Matrix& queries, int64_t q0, int64_t count, int k,
                   std::vector<Candidate>& out) {
    // Each query's window holds every row at or above the floor of its k-th best
    // (exact_topk.h): within ~1e-4 of it in float32, ~0.01 in bfloat16, whose windows are
    // wider for it.
    const at::Tensor scoredQueries = asScored(queries.row(q0).data(), count);
    const std::vector<ScoreBound> bounds = boundsFor(queries.row(q0).data(), scoredQueries);
    const int64_t kept = std::min<int64_t>(host_.rows, k);
    std::vector<Window> windows;  // one each, so that each keeps its reserved room
    windows.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) windows.emplace_back(kept, bounds[i], kWindowCap);
    const int threads = threads_;
    forEachTile(scoredQueries, [&](const auto* scores, int64_t t0, int64_t t1) {
      const int64_t width = t1 - t0;
#pragma omp parallel for num_threads(threads) schedule(static) if (count > 1)
      for (int64_t i = 0; i < count; ++i) windows[i].offer(scores + i * width, width, t0);
    });

    // One stride for all: the longest window; shorter ones end in empty slots (-inf, row -1).
    ApproximateTopK approx;
    approx.queries = count;
    approx.kept = 1;
    for (auto& window : windows) {
      window.finish();
      approx.kept = std::max<int64_t>(approx.kept, window.entries().size());
    }
    approx.values.assign(static_cast<size_t>(count * approx.kept), -INFINITY);
    approx.rows.assign(static_cast<size_t>(count * approx.kept), -1);
    approx.complete.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const auto& entries = windows[i].entries();
      for (size_t j = 0; j < entries.size(); ++j) {
        approx.values[i * approx.kept + j] = entries[j].value;
        approx.rows[i * approx.kept + j] = entries[j].row;
      }
      approx.complete[i] = windows[i].complete();
    }

    const auto rescan = [&](std::span<const int64_t> which, std::span<const double> floors) {
      // Every row at or above each listed query's floor, scored again the same way.
      const int64_t listed = static_cast<int64_t>(which.size());
      std::vector<float> floorValues(which.size());
      for (int64_t j = 0; j < listed; ++j) floorValues[j] = floatAtOrBelow(floors[j]);
      const at::Tensor index = at::tensor(std::vector<int64_t>(which.begin(), which.end()));
      std::vector<std::vector<int64_t>> found(which.size());
      forEachTile(scoredQueries.index_select(0, index),
                  [&](const auto* scores, int64_t t0, int64_t t1) {
                    const int64_t width = t1 - t0;
#pragma omp parallel for num_threads(threads) schedule(static) if (listed > 1)
                    for (int64_t j = 0; j < listed; ++j)
                      for (int64_t c = 0; c < width; ++c)
                        if (widen(scores[j * width + c]) >= floorValues[j])
                          found[j].push_back(t0 + c);
                  });
      return found;
    };
    const ExactTopKStats exact =
        exactTopK(host_, rowOffset_, queries, q0, approx, k, bounds, rescan, threads_, out);
    stats_.rescannedQueries += exact.rescannedQueries;
    stats_.rescoredRows += exact.rescoredRows;
    stats_.rescoreSeconds += exact.rescoreSeconds;
  }

  // exact_topk.h's bound for each query of a block (float32 rows at `q`, as scored in
  // `scoredQueries`): float32 sums, and in bfloat16 the query's and the rows' measured rounding
  // and each score's rounding to 8 significant bits.
  std::vector<ScoreBound> boundsFor(const float* q, const at::Tensor& scoredQueries) const {
    return queryBounds(q, scoredQueries, rowResidual_, bf16_ ? unitRoundoff(kBfloat16Bits) : 0.0);
  }

  Matrix host_;  // normalised float32: both the scored rows and the exact rescoring's
  int64_t rowOffset_;
  SearchOptions options_;
  int threads_ = 1;
  // A window past this many rows (near-duplicates by the thousand above the floor of the k-th)
  // is cut and its query scanned again: the windows of a block (up to 1024 queries) stay in
  // memory together, at most 2 x 4096 x 16 bytes each (128 MiB in all). Windows of random
  // rows in bfloat16 at k = 100 hold ~170-270.
  static constexpr int64_t kWindowCap = 4096;
  bool bf16_ = false;          // scored in bfloat16 (search.cpu_dtype)
  at::Tensor scored16_;        // bf16_: the normalised rows in bfloat16
  double rowResidual_ = 0;     // bf16_: the largest |row - its bfloat16 copy|
  std::vector<float> buffer_;  // one float32 score tile, reused
  at::Tensor tile16_;          // one bfloat16 score tile, reused
  SearchStats stats_;
};

}  // namespace

std::string chooseCpuDtype(const std::string& requested, bool fastBf16, int64_t copyBytes,
                           int64_t availableBytes, std::string& why) {
  why.clear();
  if (requested != "auto") return requested;
  if (!fastBf16) return "float32";
  if (availableBytes >= 0 && copyBytes > availableBytes / 2) {
    why = fmt::format(
        "search.cpu_dtype auto: scoring in float32, not bfloat16: the bfloat16 copy of this "
        "rank's shard ({:.2f} GiB) would take more than half of the memory available to it "
        "({:.2f} GiB, its part of what this host's ranks may take); set search.cpu_dtype: bfloat16 "
        "to have it anyway",
        static_cast<double>(copyBytes) / (1 << 30),
        static_cast<double>(availableBytes) / (1 << 30));
    return "float32";
  }
  return "bfloat16";
}

std::unique_ptr<ShardIndex> makeBlockedCpuShardIndex(Matrix shard, int64_t rowOffset,
                                                     SearchOptions options) {
  // LibTorch runs bfloat16 products through oneDNN, which uses AMX or AVX512-BF16 where the CPU
  // has them; on other CPUs they are slower than OpenBLAS's float32.
  const bool fastBf16 = bf16ProductsFast() && at::hasMKLDNN();
  std::string why;
  // The ranks on this host share its memory (and its cgroup's limit): each may take its part.
  const int64_t available = fastBf16 ? hostMemory().availableBytes : -1;
  options.cpuDtype = chooseCpuDtype(
      options.cpuDtype, fastBf16, shard.rows * shard.cols * 2,
      available < 0 ? -1 : available / std::max(1, processIdentity().localSize), why);
  if (!why.empty()) spdlog::warn("{}", why);
  if (options.cpuDtype == "bfloat16" && !fastBf16) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      spdlog::warn(
          "search.cpu_dtype=bfloat16 without bfloat16 hardware ({}{}): the search runs, exact as "
          "ever, but slower than with float32",
          matrixUnitsNote(), at::hasMKLDNN() ? "" : "; LibTorch has no oneDNN");
    });
  }
  return std::make_unique<BlockedCpuShardIndex>(std::move(shard), rowOffset, std::move(options));
}

}  // namespace eleanor
