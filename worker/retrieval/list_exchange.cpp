#include "worker/retrieval/list_exchange.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"
#include "worker/retrieval/merge_topk.h"

namespace eleanor {
namespace {

// The rank whose shard holds `row`: the last rank whose first row is <= row (ranks with empty
// shards share their first row with the next rank, which comes later).
int ownerOf(std::span<const int64_t> shardBegins, int64_t row) {
  const auto after = std::upper_bound(shardBegins.begin(), shardBegins.end() - 1, row);
  return static_cast<int>(after - shardBegins.begin()) - 1;
}

// Appends `count` values of T at `values` to `block`.
template <class T>
void put(std::vector<std::byte>& block, const T* values, size_t count) {
  const auto* bytes = reinterpret_cast<const std::byte*>(values);
  block.insert(block.end(), bytes, bytes + count * sizeof(T));
}

// This rank's answer to one asking rank: its rows' metadata, in the order asked, as columns: the
// row count (uint64), each row's id and decision lengths (uint32 each), every row's severities
// (double, numCritics a row), then the ids and decisions back to back. Built and read with a
// copy a column, not a value a row.
std::vector<std::byte> answer(std::span<const int64_t> rows, int asker,
                              std::span<const int64_t> shardBegins, int rank,
                              const std::vector<PrecedentMeta>& shardMeta, size_t numCritics) {
  const int64_t begin = shardBegins[rank];
  std::vector<uint32_t> idBytes, decisionBytes;
  std::vector<double> severity;
  std::string text;
  for (const int64_t row : rows) {
    if (row < begin || row - begin >= static_cast<int64_t>(shardMeta.size())) {
      throw InternalError(
          fmt::format("rank {} asked for precedent row {}, which this shard "
                      "(rows {} to {}) does not hold",
                      asker, row, begin, begin + shardMeta.size()));
    }
    const PrecedentMeta& m = shardMeta[static_cast<size_t>(row - begin)];
    if (m.severity.size() != numCritics)
      throw InternalError(fmt::format("precedent row {} has {} severities for {} critics", row,
                                      m.severity.size(), numCritics));
    idBytes.push_back(static_cast<uint32_t>(m.id.size()));
    decisionBytes.push_back(static_cast<uint32_t>(m.decision.size()));
    severity.insert(severity.end(), m.severity.begin(), m.severity.end());
    text.append(m.id).append(m.decision);
  }
  std::vector<std::byte> block;
  const uint64_t count = rows.size();
  put(block, &count, 1);
  put(block, idBytes.data(), idBytes.size());
  put(block, decisionBytes.data(), decisionBytes.size());
  put(block, severity.data(), severity.size());
  put(block, text.data(), text.size());
  return block;
}

// Adds the rows `rows` (ascending, above every row in `table`) from `owner`'s answer (`block`).
void decode(std::span<const std::byte> block, std::span<const int64_t> rows, int owner,
            PrecedentTable& table) {
  if (rows.empty()) return;
  if (block.empty()) {
    throw PeerFailure(fmt::format(
        "rank {} sent no metadata for the {} precedent rows asked of it (it failed this round)",
        owner, rows.size()));
  }
  const size_t critics = table.critics();
  const auto wrong = [&](const std::string& what) {
    return InternalError(
        fmt::format("rank {} answered {} for {} precedent rows asked", owner, what, rows.size()));
  };
  uint64_t count = 0;
  if (block.size() < sizeof count) throw wrong(fmt::format("{} bytes", block.size()));
  std::memcpy(&count, block.data(), sizeof count);
  if (count != rows.size()) throw wrong(fmt::format("{} rows of metadata", count));
  const size_t fixed =
      sizeof count + rows.size() * (2 * sizeof(uint32_t) + critics * sizeof(double));
  if (block.size() < fixed) throw wrong(fmt::format("{} bytes", block.size()));
  std::vector<uint32_t> idBytes(rows.size()), decisionBytes(rows.size());
  std::vector<double> severity(rows.size() * critics);
  const std::byte* at = block.data() + sizeof count;
  std::memcpy(idBytes.data(), at, rows.size() * sizeof(uint32_t));
  at += rows.size() * sizeof(uint32_t);
  std::memcpy(decisionBytes.data(), at, rows.size() * sizeof(uint32_t));
  at += rows.size() * sizeof(uint32_t);
  if (!severity.empty()) std::memcpy(severity.data(), at, severity.size() * sizeof(double));
  const std::string_view text(reinterpret_cast<const char*>(block.data()) + fixed,
                              block.size() - fixed);
  size_t textBytes = 0;
  for (size_t i = 0; i < rows.size(); ++i) textBytes += size_t{idBytes[i]} + decisionBytes[i];
  if (textBytes != text.size()) throw wrong(fmt::format("{} bytes", block.size()));
  size_t offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    table.add(rows[i], text.substr(offset, idBytes[i]),
              text.substr(offset + idBytes[i], decisionBytes[i]),
              std::span<const double>(severity).subspan(i * critics, critics));
    offset += size_t{idBytes[i]} + decisionBytes[i];
  }
}

}  // namespace

std::vector<std::vector<Candidate>> exchangeTopK(Communicator& comm,
                                                 std::span<const Candidate> lists,
                                                 std::span<const size_t> casesPerRank, int k,
                                                 DeferredFailure& failure) {
  const int world = comm.size();
  const size_t width = static_cast<size_t>(k);
  std::vector<size_t> sendCounts;
  for (int r = 0; r < world; ++r) sendCounts.push_back(width * casesPerRank[r] * sizeof(Candidate));
  std::vector<std::byte> received;
  std::vector<size_t> receivedCounts;
  comm.allToAllV(lists.data(), sendCounts, received, receivedCounts);

  std::vector<std::vector<Candidate>> tops;
  failure.attempt([&] {
    // Every shard's block holds k candidates per case of this rank; copied out so that each
    // is aligned for Candidate.
    const size_t perShard = width * casesPerRank[comm.rank()];
    for (int r = 0; r < world; ++r) {
      if (receivedCounts[r] != perShard * sizeof(Candidate)) {
        throw InternalError(fmt::format("rank {} sent {} bytes of top-k lists where {} were due", r,
                                        receivedCounts[r], perShard * sizeof(Candidate)));
      }
    }
    std::vector<Candidate> all(perShard * static_cast<size_t>(world));
    if (!received.empty()) std::memcpy(all.data(), received.data(), received.size());
    tops.resize(casesPerRank[comm.rank()]);
    std::vector<std::span<const Candidate>> shards(world);
    for (size_t i = 0; i < tops.size(); ++i) {
      for (int r = 0; r < world; ++r)
        shards[r] = std::span(all).subspan(static_cast<size_t>(r) * perShard + i * width, width);
      tops[i] = mergeTopK(shards, k);
    }
  });
  return tops;
}

PrecedentTable fetchPrecedentMeta(Communicator& comm,
                                  const std::vector<std::vector<Candidate>>& tops,
                                  std::span<const int64_t> shardBegins,
                                  const std::vector<PrecedentMeta>& shardMeta, size_t numCritics,
                                  DeferredFailure& failure) {
  const int world = comm.size();
  // The rows wanted from each rank, ascending, each once (none once this rank has failed).
  std::vector<std::vector<int64_t>> wanted(world);
  failure.attempt([&] {
    for (const auto& top : tops) {
      for (const Candidate& c : top) {
        if (c.row < 0 || c.row >= shardBegins.back())
          throw InternalError(fmt::format("top-k row {} is outside the corpus", c.row));
        wanted[ownerOf(shardBegins, c.row)].push_back(c.row);
      }
    }
  });
  std::vector<int64_t> asks;
  std::vector<size_t> askCounts;
  for (auto& rows : wanted) {
    if (failure.failed()) rows.clear();
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    asks.insert(asks.end(), rows.begin(), rows.end());
    askCounts.push_back(rows.size() * sizeof(int64_t));
  }
  std::vector<std::byte> asked;
  std::vector<size_t> askedCounts;
  comm.allToAllV(asks.data(), askCounts, asked, askedCounts);

  std::vector<std::byte> answers;
  std::vector<size_t> answerCounts;
  failure.attempt([&] {
    size_t offset = 0;
    for (int r = 0; r < world; ++r) {
      std::vector<int64_t> rows(askedCounts[r] / sizeof(int64_t));
      if (!rows.empty()) std::memcpy(rows.data(), asked.data() + offset, askedCounts[r]);
      offset += askedCounts[r];
      if (rows.empty()) {
        answerCounts.push_back(0);
        continue;
      }
      const std::vector<std::byte> block =
          answer(rows, r, shardBegins, comm.rank(), shardMeta, numCritics);
      answers.insert(answers.end(), block.begin(), block.end());
      answerCounts.push_back(block.size());
    }
  });
  if (failure.failed()) {  // answer nothing: the askers' decode fails, and this rank rethrows
    answers.clear();
    answerCounts.assign(world, 0);
  }
  std::vector<std::byte> answered;
  std::vector<size_t> answeredCounts;
  comm.allToAllV(answers.data(), answerCounts, answered, answeredCounts);

  // The owners' rows are ascending ranges in rank order, so the table gets its rows ascending.
  PrecedentTable meta(numCritics);
  failure.attempt([&] {
    size_t offset = 0;
    for (int r = 0; r < world; ++r) {
      decode(std::span<const std::byte>(answered).subspan(offset, answeredCounts[r]), wanted[r], r,
             meta);
      offset += answeredCounts[r];
    }
  });
  return meta;
}

}  // namespace eleanor
