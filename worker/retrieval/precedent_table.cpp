#include "worker/retrieval/precedent_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace eleanor {

void PrecedentTable::add(int64_t row, std::string_view id, std::string_view decision,
                         std::span<const double> severity) {
  if (!rows_.empty() && row <= rows_.back())
    throw InternalError(
        fmt::format("precedent row {} added after row {}: rows go in ascending "
                    "order, each once",
                    row, rows_.back()));
  if (severity.size() != critics_)
    throw InternalError(fmt::format("precedent row {} has {} severities for {} critics", row,
                                    severity.size(), critics_));
  constexpr size_t kMax = std::numeric_limits<uint32_t>::max();
  if (id.size() > kMax || decision.size() > kMax)
    throw InternalError(fmt::format("precedent row {}'s id or decision is over 4 GiB", row));
  rows_.push_back(row);
  textBegin_.push_back(text_.size());
  idBytes_.push_back(static_cast<uint32_t>(id.size()));
  decisionBytes_.push_back(static_cast<uint32_t>(decision.size()));
  text_.append(id).append(decision);
  severity_.insert(severity_.end(), severity.begin(), severity.end());
}

size_t PrecedentTable::indexOf(int64_t row) const {
  const auto at = std::lower_bound(rows_.begin(), rows_.end(), row);
  return at != rows_.end() && *at == row ? static_cast<size_t>(at - rows_.begin()) : rows_.size();
}

bool PrecedentTable::contains(int64_t row) const {
  return indexOf(row) < rows_.size();
}

PrecedentTable::Entry PrecedentTable::at(int64_t row) const {
  const size_t i = indexOf(row);
  if (i == rows_.size())
    throw InternalError(fmt::format("no metadata was fetched for precedent row {}", row));
  const std::string_view text(text_);
  return {text.substr(textBegin_[i], idBytes_[i]),
          text.substr(textBegin_[i] + idBytes_[i], decisionBytes_[i]),
          std::span<const double>(severity_).subspan(i * critics_, critics_)};
}

}  // namespace eleanor
