#include "worker/cases/case_reader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"
#include "common/partition.h"
#include "common/text_hash.h"
#include "worker/cases/case_parser.h"

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
    if (auto reason = jsonLinesFileProblem(path, file->view())) throw UserError(*reason);
  } catch (const UserError& e) {
    throw UserError(fmt::format("{} ({})", e.what(), setting));
  }
  return std::move(*file);
}

// The ranks split the input by its bytes on disk, and a compressed byte holds several plain
// bytes' worth of lines (more in text that compresses well); a zstd decoder gives out a block
// (up to 128 KiB of text) at a time, so a part is that coarse. In an input of compressed and
// plain files, of files compressed at different levels, or of small zstd files, some ranks read
// many more lines than others, and the job goes at the pace of the busiest one. Says so where a
// rank reads over a quarter more than an even share.
void warnUnevenShares(const std::vector<std::string>& paths, const std::vector<int64_t>& counts) {
  const auto compressed = std::count_if(paths.begin(), paths.end(), [](const std::string& path) {
    return compressionOf(path) != Compression::none;
  });
  if (compressed == 0 || counts.size() < 2) return;
  const auto [least, most] = std::minmax_element(counts.begin(), counts.end());
  int64_t total = 0;
  for (const int64_t count : counts) total += count;
  if (*most * static_cast<int64_t>(counts.size()) * 4 <= total * 5) return;
  spdlog::warn(
      "the {} ranks read between {} and {} of the input's {} lines: ranks split the input by its "
      "bytes on disk, which hold more lines in its {} compressed file(s) than in plain ones (and "
      "more where text compresses better), and zstd gives out text 128 KiB at a time, so the "
      "job goes at its busiest rank's pace; for an even split give the input all compressed "
      "alike, or all decompressed",
      counts.size(), *least, *most, total, compressed);
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
    const Compression compression = compressionOf(paths[f]);
    files_[f] = openJsonLines(paths[f], setting);
    const std::string_view data = files_[f]->view();
    if (static_cast<int64_t>(data.size()) != fileSize)
      throw UserError(fmt::format(
          "'{}' ({}) is {} bytes here but was {} when rank 0 listed the input: it changed as the "
          "job started (it is still being written, or was replaced), or this node holds another "
          "copy; run again once every node sees the same, complete file",
          paths[f], setting, data.size(), fileSize));
    if (compression != Compression::none) {
      // Split as a plain file, by the compressed bytes: the rank decodes from the entry point
      // before its part (bgzip's blocks, pzstd's frames; the start of a file gzip or zstd wrote).
      int64_t lines = 0;
      std::optional<Decompressor> atPart;
      try {
        lines = countCompressedLines(data, compression, paths[f], bytes, &atPart);
      } catch (const UserError& e) {
        throw UserError(fmt::format("{} ({})", e.what(), setting));
      }
      if (lines == 0) {
        files_[f].reset();
        continue;
      }
      segments_.push_back({f, bytes, lines, compression});
      if (atPart)
        segments_.back().atPart = std::make_shared<const Decompressor>(std::move(*atPart));
      rankLines_ += lines;
      continue;
    }
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
  if (comm.rank() == 0) warnUnevenShares(listing_.paths, counts);
  std::vector<int64_t> fileLines(files_.size(), 0);
  int64_t next = firstLine_;
  for (auto& segment : segments_) {
    segment.firstLine = next;
    next += segment.lines;
    fileLines[segment.file] += segment.lines;
    // A compressed part is decoded from the entry point before it (a one-stream file's start).
    const int64_t from = segment.compression == Compression::none
                             ? segment.range.begin
                             : entryPointBefore(files_[segment.file]->view(), segment.compression,
                                                segment.range.begin);
    files_[segment.file]->adviseSequential(from, segment.range.end - from);
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
    if (taken_ < s.lines) {
      if (!plain_ && !compressed_) {  // the segment's first line
        const std::string_view data = reader.files_[s.file]->view();
        if (s.compression == Compression::none)
          plain_.emplace(data, s.range, s.firstLine);
        else
          compressed_.emplace(data, s.compression, reader.paths()[s.file], s.range, s.firstLine,
                              reader.maxLineBytes_, s.atPart.get());
      }
      auto line = plain_ ? plain_->next() : compressed_->next();
      // The lines were counted from the same mapped bytes: only a file rewritten in place
      // since (which a job's input must not be) can hold fewer.
      if (!line)
        throw UserError(
            fmt::format("'{}' changed while the job read it: it held {} line(s) of "
                        "this rank's when the job started, now {}; run again",
                        reader.paths()[s.file], s.lines, taken_));
      ++taken_;
      return line;
    }
    ++segment_;
    taken_ = 0;
    plain_.reset();
    compressed_.reset();
  }
  return std::nullopt;
}

bool CaseReader::Cursor::done(const CaseReader& reader) const {
  // Segments are never empty, so a later one holds a line.
  if (segment_ + 1 < reader.segments_.size()) return false;
  if (segment_ >= reader.segments_.size()) return true;
  return taken_ >= reader.segments_[segment_].lines;
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
  if (line.bytes() <= maxLineBytes_) return std::nullopt;
  return LineError{line.number, "",
                   fmt::format("line is {} bytes, over job.max_line_bytes ({}); raise it to accept "
                               "longer {}",
                               line.bytes(), maxLineBytes_, what)};
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
