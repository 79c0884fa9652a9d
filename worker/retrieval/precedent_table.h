// PrecedentTable: the metadata of the precedents one round's cases name (id, decision, a
// severity per critic), as the ranks whose shards hold them sent it, in one block of text and
// flat arrays looked up by global row. The round's decide loop reads views into it, so a case's
// ten precedents cost no allocation (a map of PrecedentMeta cost a node, two strings and a vector
// a row, and their CBOR as many again: the job's gather_results stage, docs/benchmarks.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eleanor {

class PrecedentTable {
 public:
  struct Entry {
    std::string_view id;
    std::string_view decision;
    std::span<const double> severity;  // one per critic; -1 = not given
  };

  explicit PrecedentTable(size_t critics = 0) : critics_(critics) {}

  // Rows go in ascending order, each once (InternalError otherwise); `severity` holds one value
  // per critic.
  void add(int64_t row, std::string_view id, std::string_view decision,
           std::span<const double> severity);

  // The row's entry, valid while the table lives and gains no row; InternalError naming the
  // row where the table lacks it.
  Entry at(int64_t row) const;
  bool contains(int64_t row) const;
  size_t size() const { return rows_.size(); }
  size_t critics() const { return critics_; }

 private:
  size_t indexOf(int64_t row) const;  // size() where absent

  size_t critics_;
  std::vector<int64_t> rows_;      // ascending
  std::vector<size_t> textBegin_;  // row i's id, then its decision, from here in text_
  std::vector<uint32_t> idBytes_;  // per row
  std::vector<uint32_t> decisionBytes_;
  std::string text_;
  std::vector<double> severity_;  // critics_ a row
};

}  // namespace eleanor
