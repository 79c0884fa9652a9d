// The shard index on LibTorch, one code path for the CPU and a GPU: tiles of the shard are
// scored against a block of queries with one matrix product each, a running window of the
// best k' rows per query is kept (topk over the tile, merged with the window so far), and the
// windows are made exact on the host (exact_topk.h). Device code is plain ATen, so this file
// builds against a CPU-only LibTorch and runs on a GPU wherever LibTorch has CUDA.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <tuple>

#include "common/error.h"
#include "worker/retrieval/blocked_cpu_index.h"
#include "worker/retrieval/exact_topk.h"
#include "worker/retrieval/fused_gpu_window.h"
#include "worker/retrieval/rounding_residual.h"
#include "worker/retrieval/shard_index.h"
#include "worker/retrieval/tile_window.h"

namespace eleanor {
namespace {

at::Tensor view(const Matrix& m) {
  return at::from_blob(const_cast<float*>(m.values.data()), {m.rows, m.cols}, at::kFloat);
}

at::ScalarType scalarType(const std::string& dtype) {
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "float16") return at::kHalf;
  if (dtype == "float32") return at::kFloat;
  throw UserError(fmt::format("dtype '{}' is not one of bfloat16, float16, float32", dtype));
}

// LibTorch's allocator and CUDA say "out of memory"; cuBLAS, creating its handle or workspace
// on a full device, says CUBLAS_STATUS_ALLOC_FAILED.
bool isOutOfMemory(const c10::Error& e) {
  const std::string what = e.what();
  return what.find("out of memory") != std::string::npos ||
         what.find("CUBLAS_STATUS_ALLOC_FAILED") != std::string::npos;
}

// The first line of an error's text (LibTorch appends a stack trace to some).
std::string firstLine(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

// cuBLAS may reduce bf16 products in bf16 (split-K) unless told not to, which would void the
// error bound exact_topk relies on. Older LibTorch has no switch (and reduces in fp32).
template <class Context>
void keepReductionsInFloat32(Context& context) {
  context.setAllowFP16ReductionCuBLAS(false);
  if constexpr (requires { context.setAllowBF16ReductionCuBLAS(false); })
    context.setAllowBF16ReductionCuBLAS(false);
}

class TorchShardIndex : public ShardIndex {
 public:
  TorchShardIndex(Matrix shard, int64_t rowOffset, SearchOptions options)
      : host_(std::move(shard)), rowOffset_(rowOffset), options_(std::move(options)) {
    normalizeRows(host_);
    budget_ = options_.memoryBudgetBytes;
    onGpu_ = options_.cudaDevice >= 0;
    // Narrow storage (a dtype below float32, or int8): on a GPU, or on the CPU where tests
    // emulate the GPU's arithmetic (options.narrowOnCpu).
    const bool narrow = onGpu_ || options_.narrowOnCpu;
    device_ = onGpu_ ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(options_.cudaDevice))
                     : at::Device(at::kCPU);
    compute_ = narrow ? scalarType(options_.dtype) : at::kFloat;
    int8_ = narrow && options_.int8;
    offload_ = onGpu_ && options_.offloadToCpu;
    threads_ = options_.threads > 0 ? options_.threads : at::get_num_threads();
    const std::string storage = int8_ ? "int8" : narrow ? options_.dtype : "float32";
    stats_.placement = onGpu_ ? fmt::format("cuda:{} {}{}", options_.cudaDevice, storage,
                                            offload_ ? " offloaded" : "")
                              : fmt::format("cpu {} matmul", storage);
    devicePlacement_ = stats_.placement;
    if (!narrow) {
      storage_ = view(host_);
      stats_.storageBytes = static_cast<int64_t>(host_.values.size() * sizeof(float));
      return;
    }
    std::optional<c10::impl::VirtualGuardImpl> guardImpl;
    c10::Device previous(at::kCPU);
    if (onGpu_) {
      if (!at::hasCUDA())
        throw UserError(
            "this LibTorch has no CUDA support: put cpu first in gpu.device_preference "
            "or build against a CUDA LibTorch");
      guardImpl.emplace(c10::DeviceType::CUDA);
      previous = guardImpl->exchangeDevice(device_);
      auto& context = at::globalContext();
      context.setAllowTF32CuBLAS(options_.allowTf32);
      keepReductionsInFloat32(context);
    }

    at::Tensor source = view(host_);
    if (int8_) {
      // Per-row scale: the largest magnitude maps to 127.
      at::Tensor scales = source.abs().amax(1).div_(127.0f).clamp_min_(1e-30f);
      source = source.div(scales.unsqueeze(1)).round_().clamp_(-127, 127).to(at::kChar);
      rowResidual_ = largestRoundingResidual(host_, [&](int64_t r0, int64_t r1) {
        return source.slice(0, r0, r1).to(at::kFloat).mul_(scales.slice(0, r0, r1).unsqueeze(1));
      });
      scales_ = scales.to(device_);
    } else {
      source = source.to(compute_);
      if (compute_ != at::kFloat)
        rowResidual_ = largestRoundingResidual(
            host_, [&](int64_t r0, int64_t r1) { return source.slice(0, r0, r1); });
    }
    const int64_t bytes =
        source.numel() * static_cast<int64_t>(source.element_size()) + (int8_ ? host_.rows * 4 : 0);
    stats_.storageBytes = bytes;
    if (!onGpu_) {
      storage_ = source.contiguous();
    } else if (offload_) {
      storage_ = source.contiguous().pin_memory();
    } else {
      if (options_.memoryCapBytes > 0 && bytes > options_.memoryCapBytes)
        throw UserError(fmt::format(
            "this rank's shard needs {:.2f} GiB on GPU {} but gpu.memory.max_memory_per_gpu is "
            "{:.2f} GiB: enable gpu.memory.quantization (int8, 4x smaller than float32) or "
            "gpu.memory.offload_to_cpu, or run more ranks",
            bytes / double(1 << 30), options_.cudaDevice,
            options_.memoryCapBytes / double(1 << 30)));
      storage_ = source.to(device_);
    }
    if (guardImpl) guardImpl->exchangeDevice(previous);
  }

  int64_t rows() const override { return host_.rows; }
  int64_t dim() const override { return host_.cols; }
  int64_t rowOffset() const override { return rowOffset_; }
  SearchStats stats() const override { return stats_; }

  void search(const Matrix& queries, int k, std::vector<Candidate>& out) override {
    if (!startSearch(host_, queries, k, stats_, out)) return;
    std::optional<c10::impl::VirtualGuardImpl> guardImpl;
    c10::Device previous(at::kCPU);
    if (onGpu_) {
      guardImpl.emplace(c10::DeviceType::CUDA);
      previous = guardImpl->exchangeDevice(device_);
    }
    int64_t block = std::min<int64_t>(queries.rows, std::max(1, options_.maxQueryBlock));
    for (int64_t q0 = 0; q0 < queries.rows;) {
      const int64_t size = std::min(block, queries.rows - q0);
      try {
        searchBlock(queries, q0, size, k, out);
        q0 += size;
      } catch (const c10::Error& e) {
        if (!onGpu_ || !isOutOfMemory(e)) throw;
        if (size <= options_.minQueryBlock)
          throw UserError(fmt::format(
              "CUDA out of memory on GPU {} even with {} queries per block (gpu.batch."
              "min_batch_size): lower search.memory_budget_mb, enable gpu.memory.quantization "
              "or gpu.memory.offload_to_cpu, or run more ranks (last error: {})",
              options_.cudaDevice, size, firstLine(e.what())));
        // Halve both what is scored at once and the tile budget: a smaller block alone would
        // only buy longer tiles of the same size.
        block = std::max<int64_t>(options_.minQueryBlock, size / 2);
        budget_ = std::max<int64_t>(budget_ / 2, 1 << 20);
        ++stats_.outOfMemoryBackoffs;
        spdlog::warn(
            "CUDA out of memory on GPU {} scoring {} queries: retrying with {} queries "
            "and {} MiB tiles",
            options_.cudaDevice, size, block, budget_ >> 20);
      }
    }
    if (stats_.smallestQueryBlock == 0 || block < stats_.smallestQueryBlock)
      stats_.smallestQueryBlock = block;
    if (guardImpl) guardImpl->exchangeDevice(previous);
  }

 private:
  // Scores of `q` (queries in the compute dtype, on the device) against rows [t0, t1) of the
  // shard, on the device: as the product gives them (the compute dtype; no float32 copy of the
  // tile: the window's selection reads it as it is), or float32 times the row scales for int8.
  at::Tensor scoreTile(const at::Tensor& q, const at::Tensor& tile, int64_t t0, int64_t t1) const {
    if (int8_) {  // widened to the queries' type (the compute dtype, or float16: fusedInt8)
      at::Tensor scores = at::mm(q, tile.to(q.scalar_type()).t()).to(at::kFloat);
      return scores.mul_(scales_.slice(0, t0, t1).unsqueeze(0));
    }
    return at::mm(q, tile.t());
  }

  // Calls visit(tile, t0, t1) for each tile of `tileRows` rows, in order. Offloaded shards
  // are copied on side streams, the next tile's copy running while this one is scored.
  template <class Visit>
  void forEachTile(int64_t tileRows, Visit&& visit) const {
    const int64_t n = host_.rows;
    if (!offload_) {
      for (int64_t t0 = 0; t0 < n; t0 += tileRows)
        visit(storage_.slice(0, t0, std::min(n, t0 + tileRows)), t0, std::min(n, t0 + tileRows));
      return;
    }
    c10::impl::VirtualGuardImpl impl(c10::DeviceType::CUDA);
    const c10::Stream compute = impl.getStream(device_);
    std::vector<c10::Stream> copyStreams;
    for (int i = 0; i < std::max(1, options_.numStreams); ++i)
      copyStreams.push_back(impl.getStreamFromGlobalPool(device_));
    struct Pending {
      at::Tensor tile;
      std::unique_ptr<c10::Event> ready;
      int64_t t0, t1;
    };
    size_t turn = 0;
    const auto fetch = [&](int64_t t0) {
      const int64_t t1 = std::min(n, t0 + tileRows);
      const c10::Stream& copy = copyStreams[turn++ % copyStreams.size()];
      c10::StreamGuard guard(copy);
      Pending p{storage_.slice(0, t0, t1).to(device_, /*non_blocking=*/true), nullptr, t0, t1};
      p.ready = std::make_unique<c10::Event>(c10::DeviceType::CUDA);
      p.ready->record(copy);
      return p;
    };
    std::vector<Pending> inFlight;
    int64_t nextStart = 0;
    const int depth = options_.prefetch ? static_cast<int>(copyStreams.size()) : 1;
    while (nextStart < n && static_cast<int>(inFlight.size()) < depth) {
      inFlight.push_back(fetch(nextStart));
      nextStart += tileRows;
    }
    while (!inFlight.empty()) {
      Pending current = std::move(inFlight.front());
      inFlight.erase(inFlight.begin());
      current.ready->block(compute);
      // The tile was allocated on the copy stream; tell the allocator it is used here too.
      impl.recordDataPtrOnStream(current.tile.storage().data_ptr(), compute);
      if (nextStart < n) {
        inFlight.push_back(fetch(nextStart));
        nextStart += tileRows;
      }
      visit(current.tile, current.t0, current.t1);
    }
  }

  // The fused CUDA kernel's window for top-k of `q` (on the device), or 0 for the matrix path
  // (search.kernel: matmul, an int8 shard without ELEANOR_FUSED_INT8=1, or a k or device the
  // kernel does not serve).
  // The widest window that a Hopper kernel runs where one serves (on a 9.0 device, unless
  // ELEANOR_FUSED_SM90=0; it keeps at most 64, so k + 32 rather than 2k + 32 for k of 17 to
  // 32), else the widest that this device runs.
  int64_t fusedKeepFor(const at::Tensor& q, int k) const {
    if (!onGpu_ || options_.kernel == "matmul" || (int8_ && !int8Fused())) return 0;
    const std::vector<int64_t> windows = fusedWindowKeeps(k);
    int64_t widest = 0;
    for (const int64_t window : windows) {
      const int64_t keep = std::min<int64_t>(host_.rows, window);
      const std::string kernel = fusedWindowKernel(q, keep, int8_);  // "" where it does not run
      if (kernel.rfind("sm90", 0) == 0) return keep;
      if (widest == 0 && !kernel.empty()) widest = keep;
    }
    if (widest > 0) return widest;
    const std::string why =
        windows.empty()
            ? "k is above the kernel's fast path"
            : fusedWindowUnsupported(q, std::min<int64_t>(host_.rows, windows.back()), int8_);
    spdlog::debug("search.kernel=fused: the matrix path serves these queries ({})", why);
    return 0;
  }

  // The fused kernel keeps no score matrix: a resident shard is one tile; an offloaded one
  // streams in copies of at most the tile budget.
  int64_t fusedTileRows(int64_t keep) const {
    const int64_t n = std::min<int64_t>(host_.rows, int64_t{1} << 30);
    if (!offload_) return std::max<int64_t>(n, 1);
    const int64_t perRow = host_.cols * static_cast<int64_t>(storage_.element_size()) *
                           std::max(1, options_.numStreams);
    return std::clamp<int64_t>(budget_ / std::max<int64_t>(perRow, 1), keep, n);
  }

  int64_t tileRowsFor(int64_t queryCount, int64_t keep) const {
    // The tile's scores as the product gives them (int8: its bfloat16 product and the float32
    // scaled copy), and half as much again for the window's selection (group maxima, topk).
    const int64_t scoreBytes = int8_ ? 6 : static_cast<int64_t>(c10::elementSize(compute_));
    int64_t budget = budget_;
    if (onGpu_ && options_.memoryCapBytes > 0) {
      const int64_t resident = offload_ ? 0 : stats_.storageBytes;
      budget = std::min(budget, std::max<int64_t>(options_.memoryCapBytes - resident, 1 << 20));
    }
    const int64_t perRow =
        queryCount * scoreBytes * 3 / 2 + (offload_ ? host_.cols * 2 * options_.numStreams : 0);
    // Whole groups of columns, so that every tile but the shard's last can take the scores
    // above the floors (scoresAboveFloors).
    const int64_t rows = budget / std::max<int64_t>(perRow, 1);
    return std::clamp<int64_t>(rows - rows % kTileWindowGroup, keep, host_.rows);
  }

  // exact_topk.h's bound for each query of a block: float32 rows at `queries`, scored as `q`
  // (those rows rounded to the compute dtype, on the host). The query's and the rows' rounding to
  // the shard's dtype (or int8 grid) as measured; the scores' own rounding on the matrix path (its
  // output is in that dtype, then times the int8 scale), none in the fused kernel (float32 out);
  // TF32's rounding of both inputs inside the matrix units, which may truncate, at its worst.
  std::vector<ScoreBound> boundsFor(const float* queries, const at::Tensor& q, bool fused) const {
    double scoreRoundoff = 0.0, extraRelative = 0.0;
    if (!fused) scoreRoundoff = productRoundoff(q.scalar_type());
    if (int8_) scoreRoundoff += std::ldexp(1.0, -23);  // times the scale, in float32
    if (onGpu_ && compute_ == at::kFloat && options_.allowTf32)
      extraRelative = 4 * unitRoundoff(kTf32Bits);  // a truncated step of 2^-10, query and row
    return queryBounds(queries, q, rowResidual_, scoreRoundoff, extraRelative);
  }

  // The unit roundoff of a matrix-path score, a product that comes out in the queries' dtype
  // (its tile widened to that dtype); 0 for float32.
  static double productRoundoff(at::ScalarType type) {
    if (type == at::kBFloat16) return unitRoundoff(kBfloat16Bits);
    if (type == at::kHalf) return unitRoundoff(kFloat16Bits);
    return 0.0;
  }

  // An int8 shard on a GPU offered to the fused kernel (its bytes widened to float16 in the
  // kernel, float16 queries) instead of the matrix path: ELEANOR_FUSED_INT8=1 (opt-in until the
  // kernel has run on a GPU) and search.kernel not matmul.
  bool int8Fused() const {
    if (!int8_ || !onGpu_ || options_.kernel == "matmul") return false;
    const char* value = std::getenv("ELEANOR_FUSED_INT8");
    return value != nullptr && std::string(value) == "1";
  }

  // The matrix path's tiles: at most the budget's, and with the floors at most an eighth of the
  // shard, so that the first tile (the only one that needs a full selection) is small and its
  // windows' floors pass few of the rest (on independent rows, about `keep` a query a tile).
  int64_t matrixTileRows(int64_t queryCount, int64_t keep, bool floors) const {
    const int64_t rows = tileRowsFor(queryCount, keep);
    if (!floors) return rows;
    const int64_t eighth = (host_.rows + 8 * kTileWindowGroup - 1) / (8 * kTileWindowGroup);
    return std::clamp<int64_t>(eighth * kTileWindowGroup, keep, rows);
  }

  // The matrix path's window of one tile's scores: the tile's best `keep` per query
  // (tileWindow) for the first tile, and after it, while the running window `best` holds `keep`
  // scores a query, only the scores above its lowest (a comparison and a compaction instead of
  // a selection over the tile), unless some query has more than 4 * keep of them or `floors`
  // is off (ELEANOR_MATMUL_FLOORS=0).
  std::tuple<at::Tensor, at::Tensor> matrixTileWindow(const at::Tensor& scores,
                                                      const at::Tensor& best, int64_t keep,
                                                      bool floors) {
    ++stats_.matrixTiles;
    if (floors && best.defined() && best.size(1) == keep) {
      auto above = scoresAboveFloors(scores, best.amin(1, true), 4 * keep);
      if (above) {
        ++stats_.matrixTilesAboveFloors;
        return *above;
      }
    }
    return tileWindow(scores, std::min(keep, scores.size(1)));
  }

  // The matrix path takes the scores above the running windows' floors after the first tile
  // (matrixTileWindow), unless ELEANOR_MATMUL_FLOORS=0 (for comparisons).
  static bool matrixFloors() {
    const char* value = std::getenv("ELEANOR_MATMUL_FLOORS");
    return value == nullptr || std::string(value) != "0";
  }

  void searchBlock(const Matrix& queries, int64_t q0, int64_t count, int k,
                   std::vector<Candidate>& out) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t n = host_.rows;
    // The queries as scored, rounded here on the host (to nearest even, as a device rounds),
    // so that their bounds can be worked out while the device scores them (below). An int8
    // shard's fused kernel takes float16 queries (and its matrix path then the same).
    const at::ScalarType queryType = int8Fused() ? at::kHalf : compute_;
    const at::Tensor rounded = view(queries).slice(0, q0, q0 + count).to(queryType);
    const at::Tensor q = onGpu_ ? rounded.to(device_) : rounded;
    const int64_t fusedKeep = fusedKeepFor(q, k);
    const bool fused = fusedKeep > 0;
    const int64_t keep = std::min<int64_t>(
        n, fused ? fusedKeep : windowScale_ * (onGpu_ ? 2 * k + 64 : k + std::max(16, k)));

    at::Tensor bestValues, bestRows;
    const bool floors = !fused && matrixFloors();  // read once a block: its tiles agree
    const int64_t tileRows = fused ? fusedTileRows(keep) : matrixTileRows(count, keep, floors);
    forEachTile(tileRows, [&](const at::Tensor& tile, int64_t t0, int64_t t1) {
      at::Tensor values, rows;
      if (fused) {
        std::tie(values, rows) = fusedTileWindow(q, tile, std::min(keep, t1 - t0),
                                                 int8_ ? scales_.slice(0, t0, t1) : at::Tensor());
      } else {
        std::tie(values, rows) =
            matrixTileWindow(scoreTile(q, tile, t0, t1), bestValues, keep, floors);
      }
      if (values.size(1) == 0) return;  // no score of this tile above any query's floor
      rows.add_(t0);
      if (bestValues.defined()) {
        values = at::cat({bestValues, values}, 1);
        rows = at::cat({bestRows, rows}, 1);
        auto [v, pick] = values.topk(std::min(keep, values.size(1)), 1, true, false);
        bestValues = v;
        bestRows = rows.gather(1, pick);
      } else {
        bestValues = values;
        bestRows = rows;
      }
    });
    // The queries' error bounds, on the host, while a device still scores.
    const auto boundsStart = std::chrono::steady_clock::now();
    const std::vector<ScoreBound> bounds = boundsFor(queries.row(q0).data(), rounded, fused);
    stats_.boundsSeconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - boundsStart).count();
    auto [sorted, order] = bestValues.sort(1, true);
    ApproximateTopK approx;
    approx.queries = count;
    approx.kept = sorted.size(1);
    const at::Tensor values = sorted.to(at::kCPU, at::kFloat).contiguous();
    const at::Tensor rows = bestRows.gather(1, order).to(at::kCPU).contiguous();
    approx.values.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
    approx.rows.assign(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
    stats_.windowSeconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (onGpu_)  // which path, and which CUDA scan kernel, served this block
      stats_.placement = devicePlacement_ +
                         (fused ? " fused " + fusedTileWindowLastKernel() : std::string(" matmul"));

    // The rescan scores on the matrix path, whose scores come rounded to the compute dtype
    // (unit roundoff u); the fused kernel's are float32, and its floors have no term for that
    // rounding. A row scoring m >= floor there scores at least floor - u (|floor| + 2^-14) once
    // rounded (relatively, or by half a float16 subnormal step), so its floors are lowered so.
    const double rescanRoundoff = fused ? productRoundoff(q.scalar_type()) : 0.0;
    const auto rescan = [&](std::span<const int64_t> which, std::span<const double> floors) {
      // Every row at or above each listed query's floor, scored again on the matrix path.
      std::vector<std::vector<int64_t>> found(which.size());
      const at::Tensor index =
          at::tensor(std::vector<int64_t>(which.begin(), which.end())).to(q.device());
      const at::Tensor subset = q.index_select(0, index);
      std::vector<float> floorValues;
      for (const double f : floors)
        floorValues.push_back(
            floatAtOrBelow(f - rescanRoundoff * (std::abs(f) + std::ldexp(1.0, -14))));
      const at::Tensor floorTensor = at::tensor(floorValues).to(q.device()).unsqueeze(1);
      forEachTile(tileRowsFor(static_cast<int64_t>(which.size()), 1), [&](const at::Tensor& tile,
                                                                          int64_t t0, int64_t t1) {
        const at::Tensor hits =
            (scoreTile(subset, tile, t0, t1) >= floorTensor).nonzero().to(at::kCPU).contiguous();
        const int64_t* h = hits.data_ptr<int64_t>();
        for (int64_t i = 0; i < hits.size(0); ++i) found[h[2 * i]].push_back(t0 + h[2 * i + 1]);
      });
      return found;
    };
    const auto exactStart = std::chrono::steady_clock::now();
    const ExactTopKStats exact =
        exactTopK(host_, rowOffset_, queries, q0, approx, k, bounds, rescan, threads_, out);
    stats_.exactSeconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - exactStart).count();
    stats_.rescannedQueries += exact.rescannedQueries;
    // A window that cannot be proven complete costs its query a second pass over the shard
    // (int8's error bound on close neighbours, say): where more than one query in 16 needed
    // one, the matrix path keeps twice the rows from the next block on, up to 4096.
    if (!fused && exact.rescannedQueries * 16 > count && keep < n && 2 * keep <= 4096)
      windowScale_ *= 2;
    stats_.rescoredRows += exact.rescoredRows;
    stats_.rescoreSeconds += exact.rescoreSeconds;
  }

  Matrix host_;  // normalised float32: what exact scores are computed from
  int64_t rowOffset_;
  SearchOptions options_;
  bool onGpu_ = false;
  bool int8_ = false;
  bool offload_ = false;
  int threads_ = 1;
  at::Device device_{at::kCPU};
  at::ScalarType compute_ = at::kFloat;
  at::Tensor storage_;       // the shard as scored: CPU view, device tensor, or pinned host tensor
  at::Tensor scales_;        // int8: per-row scales on the device
  double rowResidual_ = 0;   // the largest |row - row as stored| (bfloat16, float16, int8)
  int64_t budget_ = 0;       // score tile budget: options_.memoryBudgetBytes, halved on OOM
  int64_t windowScale_ = 1;  // the matrix path's window, in multiples of its first (see above)
  SearchStats stats_;
  std::string devicePlacement_;  // stats_.placement before the path: "cuda:0 bfloat16"
};

}  // namespace

std::unique_ptr<ShardIndex> makeShardIndex(Matrix shard, int64_t rowOffset, SearchOptions options) {
  if (options.cudaDevice < 0 && options.kernel != "matmul")
    return makeBlockedCpuShardIndex(std::move(shard), rowOffset, std::move(options));
  return std::make_unique<TorchShardIndex>(std::move(shard), rowOffset, std::move(options));
}

}  // namespace eleanor
