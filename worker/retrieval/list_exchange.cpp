#include "worker/retrieval/list_exchange.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "worker/retrieval/merge_topk.h"

namespace eleanor {
namespace {

using Json = nlohmann::json;

// The rank whose shard holds `row`: the last rank whose first row is <= row (ranks with empty
// shards share their first row with the next rank, which comes later).
int ownerOf(std::span<const int64_t> shardBegins, int64_t row) {
  const auto after = std::upper_bound(shardBegins.begin(), shardBegins.end() - 1, row);
  return static_cast<int>(after - shardBegins.begin()) - 1;
}

// This rank's answer to one asking rank: its rows' metadata, in the order asked, as CBOR
// columns (one array per field: far fewer values to build and parse than an array per row).
std::vector<std::uint8_t> answer(std::span<const int64_t> rows, int asker,
                                 std::span<const int64_t> shardBegins, int rank,
                                 const std::vector<PrecedentMeta>& shardMeta) {
  const int64_t begin = shardBegins[rank];
  Json ids = Json::array(), decisions = Json::array();
  std::vector<double> severity;
  for (const int64_t row : rows) {
    if (row < begin || row - begin >= static_cast<int64_t>(shardMeta.size())) {
      throw InternalError(
          fmt::format("rank {} asked for precedent row {}, which this shard "
                      "(rows {} to {}) does not hold",
                      asker, row, begin, begin + shardMeta.size()));
    }
    const PrecedentMeta& m = shardMeta[static_cast<size_t>(row - begin)];
    ids.push_back(m.id);
    decisions.push_back(m.decision);
    severity.insert(severity.end(), m.severity.begin(), m.severity.end());
  }
  return Json::to_cbor(
      Json{{"id", std::move(ids)}, {"decision", std::move(decisions)}, {"severity", severity}});
}

// Adds the rows `rows` to `meta` from `owner`'s answer (`cbor`).
void decode(std::span<const std::uint8_t> cbor, std::span<const int64_t> rows, int owner,
            size_t numCritics, std::unordered_map<int64_t, PrecedentMeta>& meta) {
  if (rows.empty()) return;
  if (cbor.empty()) {
    throw PeerFailure(fmt::format(
        "rank {} sent no metadata for the {} precedent rows asked of it (it failed this round)",
        owner, rows.size()));
  }
  const Json columns = Json::from_cbor(cbor.begin(), cbor.end());
  const Json& ids = columns.at("id");
  const Json& decisions = columns.at("decision");
  const auto severity = columns.at("severity").get<std::vector<double>>();
  if (ids.size() != rows.size() || decisions.size() != rows.size() ||
      severity.size() != rows.size() * numCritics) {
    throw InternalError(
        fmt::format("rank {} answered {} rows of precedent metadata where {} were "
                    "asked",
                    owner, ids.size(), rows.size()));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto first = severity.begin() + static_cast<std::ptrdiff_t>(i * numCritics);
    meta[rows[i]] = {ids[i].get<std::string>(), decisions[i].get<std::string>(),
                     std::vector<double>(first, first + static_cast<std::ptrdiff_t>(numCritics))};
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

std::unordered_map<int64_t, PrecedentMeta> fetchPrecedentMeta(
    Communicator& comm, const std::vector<std::vector<Candidate>>& tops,
    std::span<const int64_t> shardBegins, const std::vector<PrecedentMeta>& shardMeta,
    size_t numCritics, DeferredFailure& failure) {
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
      const std::vector<std::uint8_t> cbor = answer(rows, r, shardBegins, comm.rank(), shardMeta);
      const auto* bytes = reinterpret_cast<const std::byte*>(cbor.data());
      answers.insert(answers.end(), bytes, bytes + cbor.size());
      answerCounts.push_back(cbor.size());
    }
  });
  if (failure.failed()) {  // answer nothing: the askers' decode fails, and this rank rethrows
    answers.clear();
    answerCounts.assign(world, 0);
  }
  std::vector<std::byte> answered;
  std::vector<size_t> answeredCounts;
  comm.allToAllV(answers.data(), answerCounts, answered, answeredCounts);

  std::unordered_map<int64_t, PrecedentMeta> meta;
  failure.attempt([&] {
    size_t offset = 0;
    for (int r = 0; r < world; ++r) {
      const auto* cbor = reinterpret_cast<const std::uint8_t*>(answered.data()) + offset;
      decode({cbor, answeredCounts[r]}, wanted[r], r, numCritics, meta);
      offset += answeredCounts[r];
    }
  });
  return meta;
}

}  // namespace eleanor
