#include "worker/cases/case_reader.h"

#include <fmt/format.h>

#include <algorithm>

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

CaseReader::CaseReader(const InputListing& listing, std::string_view setting, int rank, int size,
                       int64_t maxLineBytes)
    : listing_(listing), files_(listing.paths.size()), maxLineBytes_(maxLineBytes) {
  // The ranks split the files' bytes as one; each file's part of this rank's bytes is moved to
  // its line starts, so that a line belongs to the rank holding its first byte.
  const Range mine = evenSplit(listing_.bytes(), size, rank);
  int64_t offset = 0;
  const std::vector<std::string>& paths = listing_.paths;
  for (size_t f = 0; f < paths.size(); ++f) {
    const int64_t fileSize = listing_.stamps[f].bytes;
    const Range bytes{std::clamp<int64_t>(mine.begin - offset, 0, fileSize),
                      std::clamp<int64_t>(mine.end - offset, 0, fileSize)};
    offset += fileSize;
    if (bytes.size() == 0) continue;  // no line of this file starts in this rank's bytes
    files_[f] = openJsonLines(paths[f], setting);
    const std::string_view data = files_[f]->view();
    if (static_cast<int64_t>(data.size()) != fileSize)
      throw UserError(fmt::format(
          "'{}' ({}) is {} bytes here but was {} when rank 0 listed the input: it changed as the "
          "job started (it is still being written, or was replaced), or this node holds another "
          "copy; run again once every node sees the same, complete file",
          paths[f], setting, data.size(), fileSize));
    const Range lines = lineAlignedRange(data, bytes);
    if (lines.size() == 0) continue;
    segments_.push_back({f, lines, linesIn(data, lines)});
    rankLines_ += segments_.back().lines;
  }
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
  std::vector<int64_t> fileLines(files_.size(), 0);
  int64_t next = firstLine_;
  for (auto& segment : segments_) {
    segment.firstLine = next;
    next += segment.lines;
    fileLines[segment.file] += segment.lines;
    files_[segment.file]->adviseSequential(segment.range.begin, segment.range.size());
  }
  comm.allReduceSum(fileLines);
  std::vector<int64_t> fileFirstLines;
  int64_t first = 1;
  for (const int64_t lines : fileLines) {
    fileFirstLines.push_back(first);
    first += lines;
  }
  lineNames_ = InputLines(listing_.paths, std::move(fileFirstLines));
  cursor_ = Cursor();
}

std::optional<Line> CaseReader::Cursor::next(const CaseReader& reader) {
  while (segment_ < reader.segments_.size()) {
    const Segment& s = reader.segments_[segment_];
    if (!lines_) lines_.emplace(reader.files_[s.file]->view(), s.range, s.firstLine);
    if (auto line = lines_->next()) return line;
    ++segment_;
    lines_.reset();
  }
  return std::nullopt;
}

bool CaseReader::Cursor::done(const CaseReader& reader) const {
  // Segments are never empty, so a later one holds a line.
  if (segment_ + 1 < reader.segments_.size()) return false;
  if (segment_ >= reader.segments_.size()) return true;
  return lines_ && lines_->done();
}

CaseBatch CaseReader::next(int64_t maxLines) {
  CaseBatch batch;
  for (int64_t i = 0; i < maxLines; ++i) {
    const auto line = cursor_.next(*this);
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
                              fmt::format("duplicate id '{}': first used on {}; only the first "
                                          "case with an id is reviewed",
                                          c.id, lineNames_.describe(first->second))});
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
  for (int64_t i = 0; i < count && cursor_.next(*this); ++i) {
  }
}

std::vector<CaseReader::IdAtLine> CaseReader::idsInRange() const {
  std::vector<IdAtLine> ids;
  Cursor lines;
  while (const auto line = lines.next(*this)) {
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
