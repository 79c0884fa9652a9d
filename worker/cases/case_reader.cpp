#include "worker/cases/case_reader.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/partition.h"
#include "common/text_hash.h"
#include "worker/cases/case_parser.h"
#include "worker/cases/input_format.h"

namespace eleanor {
namespace {
// Lines in a line-aligned range: its newlines, plus a final line without one.
int64_t linesIn(std::string_view data, Range range) {
  if (range.size() == 0) return 0;
  const std::string_view part = data.substr(range.begin, range.size());
  return countNewlines(part) + (part.back() == '\n' ? 0 : 1);
}

// The mapped file, or a UserError naming `setting` when it cannot be read or is no JSON lines.
MappedFile openJsonLines(const std::string& path, std::string_view setting) {
  std::optional<MappedFile> file;
  try {
    file.emplace(path);
  } catch (const UserError& e) {
    throw UserError(fmt::format("{} ({})", e.what(), setting));
  }
  if (auto reason = notJsonLinesReason(path, file->view()))
    throw UserError(fmt::format("{} ({})", *reason, setting));
  return std::move(*file);
}
}  // namespace

CaseReader::CaseReader(const std::string& path, std::string_view setting, int rank, int size,
                       int64_t maxLineBytes)
    : file_(openJsonLines(path, setting)),
      setting_(setting),
      range_(lineAlignedSplit(file_.view(), size, rank)),
      maxLineBytes_(maxLineBytes),
      lines_(file_.view(), range_, 1) {
  rankLines_ = linesIn(file_.view(), range_);
}

void CaseReader::numberLines(Communicator& comm) {
  std::vector<int64_t> counts(comm.size());
  comm.allGather(&rankLines_, counts.data(), sizeof(int64_t));
  firstLine_ = 1;
  totalLines_ = 0;
  for (int r = 0; r < comm.size(); ++r) {
    if (r < comm.rank()) firstLine_ += counts[r];
    totalLines_ += counts[r];
  }
  lines_ = LineReader(file_.view(), range_, firstLine_);
  file_.adviseSequential(range_.begin, range_.size());
}

CaseBatch CaseReader::next(int64_t maxLines) {
  CaseBatch batch;
  for (int64_t i = 0; i < maxLines; ++i) {
    const auto line = lines_.next();
    if (!line) break;
    if (auto error = overLong(*line, "cases")) {
      batch.errors.push_back(std::move(*error));
      continue;
    }
    if (isBlankLine(line->text)) {
      ++batch.blankLines;
      continue;
    }
    auto parsed = parseCaseLine(line->text, line->number);
    if (auto* error = std::get_if<LineError>(&parsed)) {
      batch.errors.push_back(std::move(*error));
      continue;
    }
    Case& c = std::get<Case>(parsed);
    if (const auto first = duplicates_.find(line->number); first != duplicates_.end()) {
      batch.errors.push_back({line->number, c.id,
                              fmt::format("duplicate id '{}': first used on line {}; only the "
                                          "first case with an id is reviewed",
                                          c.id, first->second)});
      continue;
    }
    batch.cases.push_back(std::move(c));
  }
  return batch;
}

std::optional<LineError> CaseReader::overLong(const Line& line, std::string_view what) const {
  if (static_cast<int64_t>(line.text.size()) <= maxLineBytes_) return std::nullopt;
  return LineError{line.number, "",
                   fmt::format("line is {} bytes, over job.max_line_bytes ({}); raise it to accept "
                               "longer {}",
                               line.text.size(), maxLineBytes_, what)};
}

void CaseReader::skip(int64_t count) {
  for (int64_t i = 0; i < count && lines_.next(); ++i) {
  }
}

std::vector<CaseReader::IdAtLine> CaseReader::idsInRange() const {
  std::vector<IdAtLine> ids;
  LineReader lines(file_.view(), range_, firstLine_);
  while (const auto line = lines.next()) {
    if (overLong(*line, "cases") || isBlankLine(line->text)) continue;
    const auto parsed = parseCaseLine(line->text, line->number);
    if (const Case* c = std::get_if<Case>(&parsed)) {
      const Hash128 h = hash128(c->id);
      ids.push_back({h.low, h.high, line->number});
    }
  }
  return ids;
}

}  // namespace eleanor
