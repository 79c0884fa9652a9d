#include "worker/retrieval/blocked_cpu_index.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

  // Offers scores[0, count) of rows firstRow... Nearly every score fails the one compare
  // against the threshold; testing chunks first lets the compiler vectorise that compare.
  void offer(const float* scores, int64_t count, int64_t firstRow) {
    int64_t j = 0;
    // The first `keep` rows enter unconditionally (a NaN as -inf), so the window is always
    // full: the index never keeps more rows than the shard has.
    for (; j < count && static_cast<int64_t>(entries_.size()) < keep_; ++j)
      entries_.push_back({std::isnan(scores[j]) ? -INFINITY : scores[j], firstRow + j});
    constexpr int64_t kChunk = 16;
    for (; j + kChunk <= count; j += kChunk) {
      int hit = 0;
      for (int64_t i = 0; i < kChunk; ++i) hit |= scores[j + i] > threshold_;
      if (!hit) continue;
      for (int64_t i = 0; i < kChunk; ++i)
        if (scores[j + i] > threshold_) admit(scores[j + i], firstRow + j + i);
    }
    for (; j < count; ++j)
      if (scores[j] > threshold_) admit(scores[j], firstRow + j);
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
    stats_.placement = "cpu float32 fused";
    stats_.storageBytes = static_cast<int64_t>(host_.values.size() * sizeof(float));
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
  // Calls visit(scores, t0, t1) for each tile of rows [t0, t1) of the shard, in order, with
  // `scores` the float32 products of the `count` query rows at `q` with those rows
  // (count × (t1 - t0), row-major, in a buffer reused from tile to tile).
  template <class Visit>
  void forEachTile(const float* q, int64_t count, Visit&& visit) {
    const int64_t n = host_.rows, d = host_.cols;
    const int64_t budgetRows =
        options_.memoryBudgetBytes / std::max<int64_t>(count * int64_t{sizeof(float)}, 1);
    const int64_t tileRows = std::clamp<int64_t>(std::min(kTileRows, budgetRows), 1, n);
    buffer_.resize(static_cast<size_t>(count * tileRows));
    const at::Tensor queryView = at::from_blob(const_cast<float*>(q), {count, d}, at::kFloat);
    const at::Tensor shardView = at::from_blob(host_.values.data(), {n, d}, at::kFloat);
    for (int64_t t0 = 0; t0 < n; t0 += tileRows) {
      const int64_t t1 = std::min(n, t0 + tileRows);
      at::Tensor scores = at::from_blob(buffer_.data(), {count, t1 - t0}, at::kFloat);
      at::mm_out(scores, queryView, shardView.slice(0, t0, t1).t());
      visit(static_cast<const float*>(buffer_.data()), t0, t1);
    }
  }

  void searchBlock(const Matrix& queries, int64_t q0, int64_t count, int k,
                   std::vector<Candidate>& out) {
    const int64_t keep = std::min<int64_t>(host_.rows, k + std::max(16, k));
    std::vector<Reservoir> best;  // one each, so that each keeps its reserved room
    best.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) best.emplace_back(keep);
    const int threads = threads_;
    forEachTile(queries.row(q0).data(), count, [&](const float* scores, int64_t t0, int64_t t1) {
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
      forEachTile(subset.values.data(), listed, [&](const float* scores, int64_t t0, int64_t t1) {
        const int64_t width = t1 - t0;
#pragma omp parallel for num_threads(threads) schedule(static) if (listed > 1)
        for (int64_t j = 0; j < listed; ++j)
          for (int64_t c = 0; c < width; ++c)
            if (scores[j * width + c] >= floorValues[j]) found[j].push_back(t0 + c);
      });
      return found;
    };
    const ExactTopKStats exact = exactTopK(
        host_, rowOffset_, queries, q0, approx, k,
        [](std::span<const float> query) { return float32Epsilon(query); }, rescan, threads_, out);
    stats_.rescannedQueries += exact.rescannedQueries;
    stats_.rescoredRows += exact.rescoredRows;
  }

  Matrix host_;  // normalised float32: both the scored rows and the exact rescoring's
  int64_t rowOffset_;
  SearchOptions options_;
  int threads_ = 1;
  std::vector<float> buffer_;  // one score tile, reused
  SearchStats stats_;
};

}  // namespace

std::unique_ptr<ShardIndex> makeBlockedCpuShardIndex(Matrix shard, int64_t rowOffset,
                                                     SearchOptions options) {
  return std::make_unique<BlockedCpuShardIndex>(std::move(shard), rowOffset, std::move(options));
}

}  // namespace eleanor
