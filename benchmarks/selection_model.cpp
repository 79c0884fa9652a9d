// What the fused scan kernels' selection meets on unit-length Gaussian data, worked out on the
// CPU: a model of the Hopper scan's selection (fused_topk_sm90.cu) for one block of queries
// against a shard split into chunks, to read next to the profiled scan's figures
// (fusedTopKPhases: slow tiles, cut rounds) and to weigh selections that the kernels do not
// have yet. No GPU: the scores come from LibTorch's float32 `mm`.
//
// Three selections, each over the same scores:
//  - "scan": as the kernels do it. Each chunk keeps, per query, a buffer of `capacity` keys
//    behind a threshold (none at the chunk's start); a key above the threshold is appended, and
//    a full buffer is cut back to its best `keep` and the threshold raised to the keep-th. A
//    warp's tile (16 queries x 128 rows) is "slow" when any of its scores passes its query's
//    threshold (the quick rejection fails, and the warp goes the long way over its scores);
//    "groups" counts the units of 8 queries x 32 rows with a passing score, the work of the
//    grouped offer (the profiled build's phases-grouped) where the long way costs 8 units.
//    Checked: each query's merged buffers hold exactly its brute-force best `keep`.
//  - "shared floors": the same, with the chunks of a query block in lock-step and each
//    chunk's threshold raised to the best threshold any chunk of the block reached by the
//    tile before (what a global per-query floor, raised at cuts, would give).
//  - "threshold scan": a two-pass selection. A sample (every m-th tile of the shard) gives each
//    query the key of its s-th best sampled row; a second pass keeps every row at or above it,
//    with no buffer, cut or per-chunk threshold. Such a window is complete by construction (a
//    row left out scores below every row in it) and holds at least s rows (the sample's own);
//    the figures are how many rows it holds (its list's size) and the slow tiles against a
//    fixed threshold.
//
// Usage: selection_model [--rows N] [--dim D] [--keep K] [--chunks C] [--queries Q] [--seed S]
// The defaults are the kernels' at issue 4's shape: 1M x 384, keep 64 (k = 10), 16 chunks per
// query block, a block of 128 queries.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace {

constexpr int kTileRows = 128;    // the registers kernel's row tile
constexpr int kWarpQueries = 16;  // a consumer warp's queries
constexpr int kGroupQueries = 8;  // the grouped offer's unit: 8 queries (a lane quad's) ...
constexpr int kGroupRows = 32;    // ... by 32 rows (4 column pairs of each lane)

struct Options {
  int64_t rows = 1000000;
  int64_t dim = 384;
  int keep = 64;
  int capacity = 0;  // 0: keep + 64, the kernels' choice
  int chunks = 16;
  int queries = 128;
  uint64_t seed = 7;
};

// The kernels' ranking key: (score desc, row asc) as one unsigned order.
uint64_t makeKey(float score, uint32_t row) {
  uint32_t u = 0;
  std::memcpy(&u, &score, 4);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(u) << 32) | static_cast<uint64_t>(0xFFFFFFFFu - row);
}

// One query's candidate buffer in one chunk, as Selection::offer and cutOverflowing keep it.
struct Buffer {
  std::vector<uint64_t> keys;
  uint64_t threshold = 0;  // 0: none yet
  int64_t cuts = 0, appends = 0;

  void offer(uint64_t key, int keep, int capacity) {
    if (key <= threshold) return;
    keys.push_back(key);
    ++appends;
    if (static_cast<int>(keys.size()) <= capacity) return;
    std::nth_element(keys.begin(), keys.begin() + (keep - 1), keys.end(), std::greater<>());
    keys.resize(keep);
    threshold = std::max(threshold, *std::min_element(keys.begin(), keys.end()));
    ++cuts;
  }
};

struct Tally {
  int64_t warpTiles = 0, slow = 0, groups = 0, cuts = 0, appends = 0;
  std::vector<int64_t> slowByTenth = std::vector<int64_t>(10, 0);
  std::vector<int64_t> tilesByTenth = std::vector<int64_t>(10, 0);
};

// The shard's scores against the queries, chunk by chunk: scores[c] is queries x chunkRows
// (rows past the shard score -inf and are never offered).
struct Scores {
  int64_t chunkRows = 0;
  int tiles = 0;  // per chunk
  std::vector<at::Tensor> chunk;
  std::vector<std::vector<uint64_t>> best;  // per query: its brute-force best `keep` keys

  // The key of query qi against row r of chunk c (counted from the chunk's start), 0 for a row
  // past the shard (0 beats no threshold and no floor).
  uint64_t key(int c, int qi, int64_t r) const {
    const float score = chunk[c].data_ptr<float>()[qi * chunkRows + r];
    return std::isfinite(score) ? makeKey(score, static_cast<uint32_t>(c * chunkRows + r)) : 0;
  }
};

Scores scoreShard(const Options& o) {
  at::manual_seed(static_cast<int64_t>(o.seed));
  const at::Tensor queries = at::randn({o.queries, o.dim});
  const at::Tensor q = queries / queries.norm(2, 1, true);
  Scores s;
  const int64_t perChunk = (o.rows + o.chunks - 1) / o.chunks;
  s.chunkRows = (perChunk + kTileRows - 1) / kTileRows * kTileRows;
  s.tiles = static_cast<int>(s.chunkRows / kTileRows);
  for (int c = 0; c < o.chunks; ++c) {
    const int64_t begin = c * s.chunkRows,
                  count = std::clamp<int64_t>(o.rows - begin, 0, s.chunkRows);
    at::Tensor scores = at::full({o.queries, s.chunkRows}, -INFINITY);
    if (count > 0) {
      const at::Tensor rows = at::randn({count, o.dim});
      scores.slice(1, 0, count).copy_(at::mm(q, (rows / rows.norm(2, 1, true)).t()));
    }
    s.chunk.push_back(scores.contiguous());
  }
  // The reference: each query's best `keep` keys over the whole shard.
  s.best.resize(o.queries);
  for (int qi = 0; qi < o.queries; ++qi) {
    std::vector<uint64_t> keys;
    for (int c = 0; c < o.chunks; ++c)
      for (int64_t r = 0; r < s.chunkRows; ++r)
        if (const uint64_t key = s.key(c, qi, r); key != 0) keys.push_back(key);
    std::partial_sort(keys.begin(), keys.begin() + o.keep, keys.end(), std::greater<>());
    keys.resize(o.keep);
    s.best[qi] = std::move(keys);
  }
  return s;
}

// One warp's tile: whether any score passes (slow), and the grouped offer's units that would.
// `floor(qi)`: the key a score of query qi must beat.
template <class Floor>
void countTile(const Scores& s, int c, int t, int q0, Floor&& floor, Tally& tally) {
  bool slow = false;
  for (int g0 = q0; g0 < q0 + kWarpQueries; g0 += kGroupQueries)
    for (int r0 = 0; r0 < kTileRows; r0 += kGroupRows) {
      bool unit = false;
      for (int qi = g0; qi < g0 + kGroupQueries && !unit; ++qi)
        for (int r = r0; r < r0 + kGroupRows && !unit; ++r)
          unit = s.key(c, qi, int64_t{t} * kTileRows + r) > floor(qi);
      tally.groups += unit ? 1 : 0;
      slow = slow || unit;
    }
  const int tenth = static_cast<int>(static_cast<int64_t>(t) * 10 / s.tiles);
  ++tally.warpTiles;
  ++tally.tilesByTenth[tenth];
  if (slow) {
    ++tally.slow;
    ++tally.slowByTenth[tenth];
  }
}

// The scan as the kernels run it; `shareFloors`: chunks in lock-step, thresholds raised to the
// block's best of the tile before.
Tally scan(const Options& o, const Scores& s, bool shareFloors) {
  const int capacity = o.capacity > 0 ? o.capacity : o.keep + 64;
  std::vector<std::vector<Buffer>> buffers(o.chunks, std::vector<Buffer>(o.queries));
  std::vector<uint64_t> floors(o.queries, 0);
  Tally tally;
  for (int t = 0; t < s.tiles; ++t) {
    std::vector<uint64_t> raised = floors;
    for (int c = 0; c < o.chunks; ++c) {
      std::vector<Buffer>& mine = buffers[c];
      if (shareFloors)
        for (int qi = 0; qi < o.queries; ++qi)
          mine[qi].threshold = std::max(mine[qi].threshold, floors[qi]);
      for (int q0 = 0; q0 < o.queries; q0 += kWarpQueries)
        countTile(
            s, c, t, q0, [&](int qi) { return mine[qi].threshold; }, tally);
      for (int qi = 0; qi < o.queries; ++qi) {
        for (int r = 0; r < kTileRows; ++r)
          mine[qi].offer(s.key(c, qi, int64_t{t} * kTileRows + r), o.keep, capacity);
        raised[qi] = std::max(raised[qi], mine[qi].threshold);
      }
    }
    floors = raised;
  }
  // The check: the merged buffers hold each query's best `keep`.
  for (int qi = 0; qi < o.queries; ++qi) {
    std::vector<uint64_t> merged;
    for (int c = 0; c < o.chunks; ++c) {
      const Buffer& b = buffers[c][qi];
      merged.insert(merged.end(), b.keys.begin(), b.keys.end());
      tally.cuts += b.cuts;
      tally.appends += b.appends;
    }
    if (static_cast<int>(merged.size()) < o.keep)
      throw std::runtime_error(fmt::format("query {}: the buffers hold {} keys, fewer than keep {}",
                                           qi, merged.size(), o.keep));
    std::partial_sort(merged.begin(), merged.begin() + o.keep, merged.end(), std::greater<>());
    merged.resize(o.keep);
    if (merged != s.best[qi])
      throw std::runtime_error(fmt::format(
          "query {}: the modelled scan's best {} differ from the brute-force best (shared floors: "
          "{}, seed {})",
          qi, o.keep, shareFloors, o.seed));
  }
  return tally;
}

struct ThresholdFigures {
  double meanRows = 0, p99Rows = 0, maxRows = 0, minRows = 0;
  Tally tally;
};

// The two-pass selection: the s-th best key of every m-th tile, then every row at or above it.
ThresholdFigures thresholdScan(const Options& o, const Scores& s, int m, int sampled) {
  ThresholdFigures f;
  std::vector<uint64_t> floor(o.queries);
  std::vector<int64_t> held(o.queries, 0);
  for (int qi = 0; qi < o.queries; ++qi) {
    std::vector<uint64_t> sample;
    for (int c = 0; c < o.chunks; ++c)
      for (int t = 0; t < s.tiles; ++t) {
        if ((static_cast<int64_t>(c) * s.tiles + t) % m != 0) continue;
        for (int r = 0; r < kTileRows; ++r)
          if (const uint64_t key = s.key(c, qi, int64_t{t} * kTileRows + r); key != 0)
            sample.push_back(key);
      }
    const int take = std::min<int>(sampled, static_cast<int>(sample.size()));
    std::nth_element(sample.begin(), sample.begin() + (take - 1), sample.end(), std::greater<>());
    // At or above: one below the s-th key, so that the key itself is kept.
    floor[qi] = sample[take - 1] - 1;
  }
  for (int c = 0; c < o.chunks; ++c)
    for (int t = 0; t < s.tiles; ++t) {
      for (int q0 = 0; q0 < o.queries; q0 += kWarpQueries)
        countTile(
            s, c, t, q0, [&](int qi) { return floor[qi]; }, f.tally);
      for (int qi = 0; qi < o.queries; ++qi)
        for (int r = 0; r < kTileRows; ++r)
          if (s.key(c, qi, int64_t{t} * kTileRows + r) > floor[qi]) ++held[qi];
    }
  // The check: a window of every row above the floor holds the query's best min(held, keep).
  std::vector<int64_t> sorted = held;
  std::sort(sorted.begin(), sorted.end());
  f.minRows = static_cast<double>(sorted.front());
  f.maxRows = static_cast<double>(sorted.back());
  f.p99Rows =
      static_cast<double>(sorted[std::min<size_t>(sorted.size() - 1, sorted.size() * 99 / 100)]);
  for (const int64_t h : held) f.meanRows += static_cast<double>(h) / o.queries;
  for (int qi = 0; qi < o.queries; ++qi)
    if (held[qi] < sampled || s.best[qi][std::min<int64_t>(held[qi], o.keep) - 1] <= floor[qi])
      throw std::runtime_error(fmt::format("query {}: the threshold scan's window is wrong", qi));
  return f;
}

std::string tenths(const Tally& t) {
  std::string out;
  for (int i = 0; i < 10; ++i)
    out += fmt::format("{}{:.2f}", i ? " " : "",
                       t.tilesByTenth[i] ? double(t.slowByTenth[i]) / t.tilesByTenth[i] : 0.0);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"selection_model: the fused scan's selection on Gaussian data, modelled on the CPU"};
  app.add_option("--rows", o.rows, "shard rows")->check(CLI::PositiveNumber);
  app.add_option("--dim", o.dim, "dim")->check(CLI::PositiveNumber);
  app.add_option("--keep", o.keep, "window kept per query (the kernels' keep)")
      ->check(CLI::Range(1, 256));
  app.add_option("--capacity", o.capacity, "buffer per query (0: keep + 64)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--chunks", o.chunks, "row chunks per query block")->check(CLI::Range(1, 1024));
  app.add_option("--queries", o.queries, "queries (a multiple of 16)")->check(CLI::Range(16, 4096));
  app.add_option("--seed", o.seed, "seed");
  CLI11_PARSE(app, argc, argv);
  if (o.queries % kWarpQueries != 0) {
    fmt::print(stderr, "--queries must be a multiple of {}\n", kWarpQueries);
    return 2;
  }
  if (o.capacity != 0 && o.capacity <= o.keep) {
    fmt::print(stderr, "--capacity must be above --keep\n");
    return 2;
  }
  if (o.rows < static_cast<int64_t>(o.keep) * 16) {
    fmt::print(stderr, "--rows must be at least 16 x --keep (the sampled selections need it)\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const Scores s = scoreShard(o);
  fmt::print(
      "selection_model: {} queries x {} rows x D {}, keep {}, capacity {}, {} chunks of {} tiles "
      "of {} rows, seed {}\n",
      o.queries, o.rows, o.dim, o.keep, o.capacity > 0 ? o.capacity : o.keep + 64, o.chunks,
      s.tiles, kTileRows, o.seed);
  fmt::print("{:<34} {:>10} {:>13} {:>15} {:>15}   {}\n", "selection", "slow tiles", "groups/tile",
             "cuts/chunk/q", "appends/chunk/q", "slow tiles by tenth of the chunk");
  for (const bool share : {false, true}) {
    const Tally t = scan(o, s, share);
    const double perChunkQuery = static_cast<double>(o.chunks) * o.queries;
    fmt::print("{:<34} {:>10.3f} {:>13.2f} {:>15.2f} {:>15.1f}   {}\n",
               share ? "scan, floors shared across chunks" : "scan (the kernels')",
               double(t.slow) / t.warpTiles, double(t.groups) / t.warpTiles, t.cuts / perChunkQuery,
               t.appends / perChunkQuery, tenths(t));
  }
  fmt::print("\n{:<34} {:>10} {:>13} {:>9} {:>9} {:>9} {:>9}\n", "threshold scan (sample, s-th)",
             "slow tiles", "groups/tile", "rows min", "mean", "p99", "max");
  // s = keep is the floor scan's (fused_topk.h: FusedTopKProblem::floorScan, 1 tile in 8).
  std::vector<int> samples;
  for (const int sampled : {8, 16, 32, 64, o.keep})
    if (sampled <= o.keep && (samples.empty() || samples.back() < sampled))
      samples.push_back(sampled);
  for (const int m : {4, 8, 16})
    for (const int sampled : samples) {
      const ThresholdFigures f = thresholdScan(o, s, m, sampled);
      fmt::print(
          "{:<34} {:>10.3f} {:>13.2f} {:>9.0f} {:>9.1f} {:>9.0f} {:>9.0f}\n",
          fmt::format("1 tile in {}, s = {}", m, sampled), double(f.tally.slow) / f.tally.warpTiles,
          double(f.tally.groups) / f.tally.warpTiles, f.minRows, f.meanRows, f.p99Rows, f.maxRows);
    }
  fmt::print("checked: every query's windows hold its brute-force best {} ({:.1f} s)\n", o.keep,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}
