#include "worker/retrieval/blocked_cpu_index.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>
#include <vector>

#include "common/cpu_features.h"
#include "common/error.h"
#include "worker/retrieval/exact_topk.h"

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
float widen(at::BFloat16 value) {
  return std::bit_cast<float>(static_cast<uint32_t>(value.x) << 16);
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
  return firstAboveIn(values, from, count, t, [](float v) { return v; });
}

ELEANOR_SCAN_CLONES
int64_t firstAbove(const at::BFloat16* values, int64_t from, int64_t count, float t) {
  static_assert(sizeof(at::BFloat16) == sizeof(uint16_t));
  return firstAboveIn(reinterpret_cast<const uint16_t*>(values), from, count, t,
                      [](uint16_t bits) { return std::bit_cast<float>(uint32_t{bits} << 16); });
}

struct Entry {
  float value;
  int64_t row;
};

bool betterFirst(const Entry& a, const Entry& b) {
  return a.value > b.value;
}

// A query's best `keep` scores so far, FAISS-reservoir style: scores above the threshold are
// appended, and when 2 × keep have gathered one nth_element keeps the best `keep` and raises
// the threshold to the worst of them. Each admitted score costs O(1) amortised (a heap costs
// O(log keep) each: at k = 100 that was a fifth of the search). Scores equal to the threshold
// are dropped, as a heap would: exactTopK's floor test covers ties at the window's edge.
class Reservoir {
 public:
  explicit Reservoir(int64_t keep) : keep_(keep) {
    entries_.reserve(static_cast<size_t>(2 * keep));
  }

  // Offers scores[0, count) of rows firstRow... (float32, or bfloat16 widened here).
  template <class Score>
  void offer(const Score* scores, int64_t count, int64_t firstRow) {
    int64_t j = 0;
    // The first `keep` rows enter unconditionally (a NaN as -inf), so the window is always
    // full: the index never keeps more rows than the shard has.
    for (; j < count && static_cast<int64_t>(entries_.size()) < keep_; ++j) {
      const float value = widen(scores[j]);
      entries_.push_back({std::isnan(value) ? -INFINITY : value, firstRow + j});
    }
    // Nearly every score fails the one compare against the threshold: scan for the next that
    // passes (vectorised), admit it, go on.
    for (j = firstAbove(scores, j, count, threshold_); j < count;
         j = firstAbove(scores, j + 1, count, threshold_))
      admit(widen(scores[j]), firstRow + j);
  }

  // The best `keep` entries, best first.
  std::vector<Entry>& sorted() {
    if (static_cast<int64_t>(entries_.size()) > keep_) shrink();
    std::sort(entries_.begin(), entries_.end(), betterFirst);
    return entries_;
  }

 private:
  void admit(float value, int64_t row) {
    entries_.push_back({value, row});
    if (static_cast<int64_t>(entries_.size()) == 2 * keep_) shrink();
  }

  void shrink() {
    std::nth_element(entries_.begin(), entries_.begin() + (keep_ - 1), entries_.end(), betterFirst);
    threshold_ = entries_[keep_ - 1].value;
    entries_.resize(static_cast<size_t>(keep_));
  }

  int64_t keep_;
  float threshold_ = -INFINITY;
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

  // Calls visit(scores, t0, t1) for each tile of rows [t0, t1) of the shard, in order, with
  // `scores` the products of the `count` query rows at `q` with those rows (count × (t1 - t0),
  // row-major, in a buffer reused from tile to tile): float32 from the BLAS, or bfloat16 from
  // oneDNN (bfloat16 inputs, float32 accumulation) when the shard is scored in bfloat16.
  template <class Visit>
  void forEachTile(const float* q, int64_t count, Visit&& visit) {
    const int64_t n = host_.rows;
    const int64_t scoreBytes = bf16_ ? 2 : 4;
    const int64_t budgetRows =
        options_.memoryBudgetBytes / std::max<int64_t>(count * scoreBytes, 1);
    const int64_t tileRows = std::clamp<int64_t>(std::min(kTileRows, budgetRows), 1, n);
    const at::Tensor queryView = hostView(const_cast<float*>(q), count);
    if (bf16_) {
      const at::Tensor query16 = queryView.to(at::kBFloat16);
      for (int64_t t0 = 0; t0 < n; t0 += tileRows) {
        const int64_t t1 = std::min(n, t0 + tileRows);
        if (tile16_.numel() < count * (t1 - t0))
          tile16_ = at::empty({count * tileRows}, at::kBFloat16);
        at::Tensor scores = tile16_.narrow(0, 0, count * (t1 - t0)).view({count, t1 - t0});
        at::mm_out(scores, query16, scored16_.slice(0, t0, t1).t());
        visit(static_cast<const at::BFloat16*>(scores.data_ptr<at::BFloat16>()), t0, t1);
      }
      return;
    }
    buffer_.resize(static_cast<size_t>(count * tileRows));
    const at::Tensor shardView = hostView(host_.values.data(), n);
    for (int64_t t0 = 0; t0 < n; t0 += tileRows) {
      const int64_t t1 = std::min(n, t0 + tileRows);
      at::Tensor scores = at::from_blob(buffer_.data(), {count, t1 - t0}, at::kFloat);
      at::mm_out(scores, queryView, shardView.slice(0, t0, t1).t());
      visit(static_cast<const float*>(buffer_.data()), t0, t1);
    }
  }

  void searchBlock(const Matrix& queries, int64_t q0, int64_t count, int k,
                   std::vector<Candidate>& out) {
    // bfloat16 scores are coarser (eps ~ 0.012 against ~5e-5), so more rows fall between the
    // k-th score and the floor of exact_topk.h: a wider window keeps rescans rare. A corpus of
    // near-duplicates widens it further (windowScale_).
    const int64_t extra = (bf16_ ? std::max(64, 4 * k) : std::max(16, k)) * windowScale_;
    const int64_t keep = std::min<int64_t>(host_.rows, k + extra);
    std::vector<Reservoir> best;  // one each, so that each keeps its reserved room
    best.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) best.emplace_back(keep);
    const int threads = threads_;
    forEachTile(queries.row(q0).data(), count, [&](const auto* scores, int64_t t0, int64_t t1) {
      const int64_t width = t1 - t0;
#pragma omp parallel for num_threads(threads) schedule(static) if (count > 1)
      for (int64_t i = 0; i < count; ++i) best[i].offer(scores + i * width, width, t0);
    });

    ApproximateTopK approx;
    approx.queries = count;
    approx.kept = keep;
    approx.values.resize(static_cast<size_t>(count * keep));
    approx.rows.resize(static_cast<size_t>(count * keep));
    for (int64_t i = 0; i < count; ++i) {
      const auto& entries = best[i].sorted();
      for (int64_t j = 0; j < keep; ++j) {
        approx.values[i * keep + j] = entries[j].value;
        approx.rows[i * keep + j] = entries[j].row;
      }
    }

    const auto rescan = [&](std::span<const int64_t> which, std::span<const double> floors) {
      // Every row at or above each listed query's floor, scored again the same way.
      const int64_t listed = static_cast<int64_t>(which.size());
      Matrix subset(listed, host_.cols);
      std::vector<float> floorValues(which.size());
      for (int64_t j = 0; j < listed; ++j) {
        const auto src = queries.row(q0 + which[j]);
        std::copy(src.begin(), src.end(), subset.row(j).begin());
        // The largest float not above the floor, so no score at or above it is missed.
        float value = static_cast<float>(floors[j]);
        if (static_cast<double>(value) > floors[j]) value = std::nextafter(value, -INFINITY);
        floorValues[j] = value;
      }
      std::vector<std::vector<int64_t>> found(which.size());
      forEachTile(subset.values.data(), listed, [&](const auto* scores, int64_t t0, int64_t t1) {
        const int64_t width = t1 - t0;
#pragma omp parallel for num_threads(threads) schedule(static) if (listed > 1)
        for (int64_t j = 0; j < listed; ++j)
          for (int64_t c = 0; c < width; ++c)
            if (widen(scores[j * width + c]) >= floorValues[j]) found[j].push_back(t0 + c);
      });
      return found;
    };
    const ExactTopKStats exact = exactTopK(
        host_, rowOffset_, queries, q0, approx, k,
        [&](std::span<const float> query) {
          // bfloat16: the query, the row and the score each rounded to 8 significant bits.
          return float32Epsilon(query, bf16_ ? 3 * unitRoundoff(kBfloat16Bits) : 0.0);
        },
        rescan, threads_, out);
    stats_.rescannedQueries += exact.rescannedQueries;
    stats_.rescoredRows += exact.rescoredRows;
    // Each rescanned query cost another pass over the shard. When more than 1 in 16 of a block
    // needed one (clusters of near-duplicate rows wider than the window), the next blocks keep
    // twice the window, up to 16 times the first: a job's later rounds stop paying for it.
    if (exact.rescannedQueries * 16 > count && windowScale_ < kMaxWindowScale &&
        keep < host_.rows) {
      windowScale_ *= 2;
      spdlog::debug("search: {} of {} queries rescanned; window now k + {}", exact.rescannedQueries,
                    count, extra * 2);
    }
  }

  Matrix host_;  // normalised float32: both the scored rows and the exact rescoring's
  int64_t rowOffset_;
  SearchOptions options_;
  int threads_ = 1;
  static constexpr int kMaxWindowScale = 16;
  int windowScale_ = 1;        // the window's extra rows, times this (doubled on rescans)
  bool bf16_ = false;          // scored in bfloat16 (search.cpu_dtype)
  at::Tensor scored16_;        // bf16_: the normalised rows in bfloat16
  std::vector<float> buffer_;  // one float32 score tile, reused
  at::Tensor tile16_;          // one bfloat16 score tile, reused
  SearchStats stats_;
};

}  // namespace

std::unique_ptr<ShardIndex> makeBlockedCpuShardIndex(Matrix shard, int64_t rowOffset,
                                                     SearchOptions options) {
  // LibTorch runs bfloat16 products through oneDNN, which uses AMX where the CPU has it; on
  // other CPUs they are slower than OpenBLAS's float32.
  const bool fastBf16 = amxBf16Usable() && at::hasMKLDNN();
  if (options.cpuDtype == "auto") options.cpuDtype = fastBf16 ? "bfloat16" : "float32";
  if (options.cpuDtype == "bfloat16" && !fastBf16) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      spdlog::warn(
          "search.cpu_dtype=bfloat16 without AMX ({}{}): the search runs, exact as "
          "ever, but slower than with float32",
          matrixUnitsNote(), at::hasMKLDNN() ? "" : "; LibTorch has no oneDNN");
    });
  }
  return std::make_unique<BlockedCpuShardIndex>(std::move(shard), rowOffset, std::move(options));
}

}  // namespace eleanor
