#include "worker/cases/compressed_input.h"

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "common/partition.h"
#include "worker/cases/input_format.h"

namespace eleanor {
namespace {

std::string_view formatName(Compression kind) {
  return kind == Compression::gzip ? "gzip" : "zstd";
}

constexpr std::string_view kGzipMagic = "\x1F\x8B";
constexpr uint32_t kZstdFrame = 0xFD2FB528;      // a zstd frame's magic number
constexpr uint32_t kZstdSkippable = 0x184D2A50;  // a skippable frame's, its last 4 bits free

uint32_t littleEndian(std::string_view data, size_t at, int bytes) {
  uint32_t value = 0;
  for (int b = bytes - 1; b >= 0; --b)
    value = value << 8 | static_cast<unsigned char>(data[at + static_cast<size_t>(b)]);
  return value;
}

// Whether `data` starts as a `kind` stream: a zstd file may start with a skippable frame (pzstd
// writes one before each frame).
bool startsAs(std::string_view data, Compression kind) {
  if (kind == Compression::gzip) return data.starts_with(kGzipMagic);
  if (data.size() < 4) return false;
  const uint32_t magic = littleEndian(data, 0, 4);
  return magic == kZstdFrame || (magic & ~uint32_t{0xF}) == kZstdSkippable;
}

// What the user can run to see the damage for themselves.
std::string_view testCommand(Compression kind) {
  return kind == Compression::gzip ? "gzip -t" : "zstd -t";
}

[[noreturn]] void damaged(const std::string& path, Compression kind, int64_t offset,
                          std::string_view detail) {
  throw UserError(
      fmt::format("'{}' is a damaged {} file ({} at compressed byte {}): fetch or write it again "
                  "(`{} '{}'` checks a copy)",
                  path, formatName(kind), detail, offset, testCommand(kind), path));
}

[[noreturn]] void cutShort(const std::string& path, Compression kind, int64_t size) {
  throw UserError(fmt::format(
      "'{}' ends before its {} stream does ({} bytes): it was cut short (a copy or a download "
      "that did not finish, or a file still being written); fetch or write it again",
      path, formatName(kind), size));
}

constexpr size_t kHeadBytes = 64 << 10;
constexpr size_t kReadBytes = 256 << 10;

// The size of the BGZF block at `at` (a gzip member whose extra field holds bgzip's "BC"
// subfield: the member's size less one), or 0 where none starts there.
size_t bgzfBlockAt(std::string_view data, size_t at) {
  constexpr size_t kFixed = 12;  // gzip's fixed header and the extra field's length
  if (at + kFixed > data.size() || data.compare(at, 3, "\x1F\x8B\x08") != 0 ||
      (data[at + 3] & 4) == 0)  // FEXTRA
    return 0;
  const size_t extraEnd = at + kFixed + littleEndian(data, at + 10, 2);
  if (extraEnd > data.size()) return 0;
  for (size_t field = at + kFixed; field + 4 <= extraEnd;) {
    const size_t length = littleEndian(data, field + 2, 2);
    if (data.compare(field, 2, "BC") == 0 && length == 2 && field + 6 <= extraEnd) {
      const size_t size = littleEndian(data, field + 4, 2) + size_t{1};
      constexpr size_t kTrailer = 8;  // CRC-32 and length
      return size >= extraEnd - at + kTrailer && at + size <= data.size() ? size : 0;
    }
    field += 4 + length;
  }
  return 0;
}

int64_t nextBgzfBlock(std::string_view data, size_t from) {
  for (size_t at = from; (at = data.find("\x1F\x8B\x08", at, 3)) != std::string_view::npos; ++at) {
    // A block's size leads to the next block or the file's end; bytes inside compressed data
    // that only look like a header (one in 2^80 places) do not.
    const size_t size = bgzfBlockAt(data, at);
    if (size > 0 && (at + size == data.size() || bgzfBlockAt(data, at + size) > 0))
      return static_cast<int64_t>(at);
  }
  return static_cast<int64_t>(data.size());
}

size_t lastBgzfBlock(std::string_view data, size_t from) {
  if (bgzfBlockAt(data, 0) == 0) return 0;  // one gzip stream
  // bgzip's blocks hold at most 64 KiB: one of them starts that far before `from`.
  constexpr size_t kMaxBlock = 64 << 10;
  auto at = static_cast<size_t>(nextBgzfBlock(data, from > kMaxBlock ? from - kMaxBlock : 0));
  // None there: `from` is in a gzip stream after the blocks (`cat x.bgz y.gz`), whose start is
  // not written anywhere.
  if (at > from) return 0;
  // On from block to block; one that is not bgzip's (that stream) starts where the last ended.
  for (size_t size; (size = bgzfBlockAt(data, at)) > 0 && at + size <= from;) at += size;
  return at;
}

size_t lastPzstdFrame(std::string_view data, size_t from) {
  // pzstd writes each frame after a skippable frame of four bytes: that frame's size.
  for (size_t at = 0;;) {
    // A frame pzstd did not announce (a file zstd wrote: from its start) begins one stream.
    if (at + 16 > data.size() || littleEndian(data, at, 4) != kZstdSkippable ||
        littleEndian(data, at + 4, 4) != 4 || littleEndian(data, at + 12, 4) != kZstdFrame)
      return at;
    const size_t next = at + 12 + size_t{littleEndian(data, at + 8, 4)};
    if (next > from) return at;
    at = next;
  }
}

}  // namespace

int64_t entryPointBefore(std::string_view data, Compression kind, int64_t from) {
  if (from <= 0) return 0;
  const auto at = static_cast<size_t>(std::min(from, static_cast<int64_t>(data.size())));
  if (kind == Compression::gzip) return static_cast<int64_t>(lastBgzfBlock(data, at));
  if (kind == Compression::zstd) return static_cast<int64_t>(lastPzstdFrame(data, at));
  return 0;
}

bool hasEntryPoints(std::string_view data, Compression kind) {
  return entryPointBefore(data, kind, static_cast<int64_t>(data.size() / 2)) > 0;
}

std::string_view compressionSuffix(Compression kind) {
  switch (kind) {
    case Compression::gzip:
      return ".gz";
    case Compression::zstd:
      return ".zst";
    case Compression::none:
      break;
  }
  return "";
}

Compression compressionOf(std::string_view path) {
  for (const Compression kind : {Compression::gzip, Compression::zstd})
    if (path.ends_with(compressionSuffix(kind))) return kind;
  return Compression::none;
}

struct Decompressor::State {
  std::string_view data;
  Compression kind;
  std::string path;
  size_t in = 0;     // compressed bytes consumed
  size_t limit = 0;  // bytes fed to the decoder end here
  bool finished = false;
  // gzip
  z_stream zlib{};
  bool zlibOpen = false;
  bool memberEnded = false;
  // zstd
  ZSTD_DStream* zstd = nullptr;

  ~State() {
    if (zlibOpen) inflateEnd(&zlib);
    if (zstd != nullptr) ZSTD_freeDStream(zstd);
  }

  size_t readGzip(char* out, size_t capacity);
  size_t readZstd(char* out, size_t capacity);
};

Decompressor::Decompressor(std::string_view data, Compression kind, std::string path, int64_t from)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.data = data;
  s.kind = kind;
  s.path = std::move(path);
  s.in = static_cast<size_t>(std::clamp<int64_t>(from, 0, static_cast<int64_t>(data.size())));
  s.limit = data.size();
  // Inside the file, as after a member: what follows is another member, or zero padding.
  s.memberEnded = s.in > 0;
  if (kind == Compression::gzip) {
    // 15 + 16: a gzip header and trailer (its CRC and length are checked), the largest window.
    if (inflateInit2(&s.zlib, 15 + 16) != Z_OK)
      throw InternalError(fmt::format("zlib could not start decompressing '{}'", s.path));
    s.zlibOpen = true;
  } else {
    s.zstd = ZSTD_createDStream();
    if (s.zstd == nullptr)
      throw InternalError(fmt::format("zstd could not start decompressing '{}'", s.path));
    ZSTD_initDStream(s.zstd);
  }
}

Decompressor::Decompressor(std::unique_ptr<State> state) : state_(std::move(state)) {}

std::optional<Decompressor> Decompressor::copy() const {
  const State& s = *state_;
  if (s.kind != Compression::gzip) return std::nullopt;
  auto state = std::make_unique<State>();
  state->data = s.data;
  state->kind = s.kind;
  state->path = s.path;
  state->in = s.in;
  state->limit = s.limit;
  state->finished = s.finished;
  state->memberEnded = s.memberEnded;
  if (inflateCopy(&state->zlib, const_cast<z_stream*>(&s.zlib)) != Z_OK)
    throw InternalError(fmt::format("zlib could not copy its state for '{}'", s.path));
  state->zlibOpen = true;
  return Decompressor(std::move(state));
}

Decompressor::~Decompressor() = default;
Decompressor::Decompressor(Decompressor&&) noexcept = default;
Decompressor& Decompressor::operator=(Decompressor&&) noexcept = default;

void Decompressor::limitInput(int64_t limit) {
  State& s = *state_;
  s.limit = static_cast<size_t>(
      std::clamp<int64_t>(limit, static_cast<int64_t>(s.in), static_cast<int64_t>(s.data.size())));
}

int64_t Decompressor::inputLimit() const {
  return static_cast<int64_t>(state_->limit);
}

size_t Decompressor::read(char* out, size_t capacity) {
  State& s = *state_;
  if (s.finished || capacity == 0) return 0;
  return s.kind == Compression::gzip ? s.readGzip(out, capacity) : s.readZstd(out, capacity);
}

size_t Decompressor::State::readGzip(char* out, size_t capacity) {
  const auto outLimit = static_cast<uInt>(std::min<size_t>(capacity, UINT_MAX));
  zlib.next_out = reinterpret_cast<Bytef*>(out);
  zlib.avail_out = outLimit;
  while (zlib.avail_out > 0) {
    if (memberEnded) {
      const std::string_view rest = data.substr(in);
      if (rest.find_first_not_of('\0') == std::string_view::npos) {  // the end, or zero padding
        finished = true;
        break;
      }
      if (in >= limit) break;  // paused: the next member is past the limit
      if (!rest.starts_with(kGzipMagic))
        damaged(path, kind, static_cast<int64_t>(in),
                "bytes that are not gzip follow the end of its compressed data");
      inflateReset(&zlib);
      memberEnded = false;
    }
    zlib.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in));
    zlib.avail_in = static_cast<uInt>(std::min<size_t>(limit - in, UINT_MAX));
    const uInt availIn = zlib.avail_in;
    const int rc = inflate(&zlib, Z_NO_FLUSH);
    in += availIn - zlib.avail_in;
    if (rc == Z_STREAM_END) {
      memberEnded = true;
      continue;
    }
    if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR)
      damaged(path, kind, static_cast<int64_t>(in),
              zlib.msg != nullptr ? zlib.msg : "zlib could not decompress it");
    // Z_OK or Z_BUF_ERROR: no progress is possible without more input or more room. With
    // room left, inflate has given out every symbol the input so far holds whole.
    if (zlib.avail_out > 0 && in == limit) {
      if (limit == data.size()) cutShort(path, kind, static_cast<int64_t>(in));
      break;  // paused at the limit
    }
  }
  return outLimit - zlib.avail_out;
}

size_t Decompressor::State::readZstd(char* out, size_t capacity) {
  ZSTD_outBuffer output{out, capacity, 0};
  ZSTD_inBuffer input{data.data(), limit, in};
  while (output.pos < output.size) {
    const size_t before = output.pos;
    const size_t hint = ZSTD_decompressStream(zstd, &output, &input);
    in = input.pos;
    if (ZSTD_isError(hint) && ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge)
      throw UserError(fmt::format(
          "'{}' was compressed with a window over zstd's default limit of 128 MiB (zstd "
          "--long=28 or more), which would take that much memory on the rank that reads it: "
          "compress it again without --long, or with --long=27 or less",
          path));
    if (ZSTD_isError(hint)) damaged(path, kind, static_cast<int64_t>(in), ZSTD_getErrorName(hint));
    if (input.pos < input.size) continue;
    if (hint == 0) {  // every frame so far complete and flushed
      finished = limit == data.size();
      break;
    }
    // All input read, and the frame wants more: only what zstd still holds can come out.
    if (output.pos == before) {
      if (limit == data.size()) cutShort(path, kind, static_cast<int64_t>(in));
      break;  // paused at the limit
    }
  }
  return output.pos;
}

namespace {
// A decoder whose next output is the first decompressed byte of `part`, fed up to its end:
// started at `entry`, the entry point before the part, with what it gives out before the part
// passed over (in `scratch`).
Decompressor decoderAtPart(std::string_view data, Compression kind, const std::string& path,
                           int64_t entry, Range part, std::vector<char>& scratch) {
  Decompressor decoder(data, kind, path, entry);
  decoder.limitInput(part.begin);
  if (part.size() > 0)
    while (decoder.read(scratch.data(), scratch.size()) > 0) {
    }
  decoder.limitInput(part.end);
  return decoder;
}

// A copy of `atPart` where given and one can be made, else decoderAtPart's.
Decompressor decoderFor(const Decompressor* atPart, std::string_view data, Compression kind,
                        const std::string& path, Range part, std::vector<char>& scratch) {
  if (atPart != nullptr)
    if (auto copy = atPart->copy()) return std::move(*copy);
  return decoderAtPart(data, kind, path, entryPointBefore(data, kind, part.begin), part, scratch);
}
}  // namespace

CompressedLineReader::CompressedLineReader(std::string_view data, Compression kind,
                                           std::string path, Range part, int64_t firstLine,
                                           int64_t maxLineBytes, const Decompressor* atPart)
    : path_(std::move(path)),
      buffer_(kReadBytes),
      decoder_(decoderFor(atPart, data, kind, path_, part, buffer_)),
      skipFirst_(part.begin > 0),
      ended_(part.size() == 0),  // no line starts in an empty part
      lineNumber_(firstLine),
      maxLineBytes_(maxLineBytes) {}

bool CompressedLineReader::fill() {
  if (ended_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= begin_;
    dropped_ += static_cast<int64_t>(begin_);
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  for (;;) {
    const size_t got = decoder_.read(buffer_.data() + end_, buffer_.size() - end_);
    end_ += got;
    if (got > 0) return true;
    const int64_t partEnd = decoder_.inputLimit();
    if (partBytes_ < 0) decoder_.limitInput(std::numeric_limits<int64_t>::max());
    if (partBytes_ >= 0 || decoder_.inputLimit() == partEnd) {  // the file's end
      ended_ = true;
      return false;
    }
    // The part's end: its last line goes on in the rest of the file.
    partBytes_ = dropped_ + static_cast<int64_t>(end_);
  }
}

int64_t CompressedLineReader::passLine() {
  int64_t length = 0;
  char last = '\0';
  for (;;) {
    const void* newline = std::memchr(buffer_.data() + scanned_, '\n', end_ - scanned_);
    const size_t at =
        newline != nullptr ? static_cast<const char*>(newline) - buffer_.data() : end_;
    length += static_cast<int64_t>(at - begin_);
    if (at > begin_) last = buffer_[at - 1];
    if (newline != nullptr) {
      begin_ = scanned_ = at + 1;
      break;
    }
    // The bytes so far are dropped, not held.
    dropped_ += static_cast<int64_t>(end_);
    begin_ = scanned_ = end_ = 0;
    if (!fill()) break;
  }
  return length - (last == '\r' ? 1 : 0);
}

Line CompressedLineReader::skipLongLine() {
  const int64_t number = lineNumber_++;
  return {number, {}, passLine()};
}

Line CompressedLineReader::take(const char* start, size_t length) {
  if (length > 0 && start[length - 1] == '\r') --length;
  // A line over the limit is given by its length alone, wherever the buffer's edges fell.
  if (static_cast<int64_t>(length) > maxLineBytes_)
    return {lineNumber_++, {}, static_cast<int64_t>(length)};
  return {lineNumber_++, std::string_view(start, length)};
}

std::optional<Line> CompressedLineReader::next() {
  if (skipFirst_) {
    skipFirst_ = false;
    passLine();
  }
  // A line starting past the part's decompressed bytes belongs to the part after.
  if (partBytes_ >= 0 && dropped_ + static_cast<int64_t>(begin_) > partBytes_) return std::nullopt;
  for (;;) {
    const void* newline = std::memchr(buffer_.data() + scanned_, '\n', end_ - scanned_);
    if (newline != nullptr) {
      const char* start = buffer_.data() + begin_;
      const size_t length = static_cast<const char*>(newline) - start;
      begin_ += length + 1;
      scanned_ = begin_;
      return take(start, length);
    }
    scanned_ = end_;
    // A line over the limit (and its '\r') is not held in memory, only counted.
    if (static_cast<int64_t>(end_ - begin_) > maxLineBytes_ + 1) return skipLongLine();
    if (!fill()) {
      if (begin_ == end_) return std::nullopt;
      const char* start = buffer_.data() + begin_;
      const size_t length = end_ - begin_;
      begin_ = scanned_ = end_;
      return take(start, length);
    }
  }
}

int64_t countCompressedLines(std::string_view data, Compression kind, const std::string& path,
                             Range part, std::optional<Decompressor>* atPart) {
  if (part.size() == 0) return 0;
  std::vector<char> buffer(kReadBytes);
  const int64_t entry = entryPointBefore(data, kind, part.begin);
  Decompressor decoder = decoderAtPart(data, kind, path, entry, part, buffer);
  if (atPart != nullptr && part.begin > entry) *atPart = decoder.copy();
  int64_t newlines = 0;
  int64_t bytes = 0;
  char last = '\0';
  while (const size_t got = decoder.read(buffer.data(), buffer.size())) {
    newlines += countNewlines(std::string_view(buffer.data(), got));
    bytes += static_cast<int64_t>(got);
    last = buffer[got - 1];
  }
  // Lines start after each '\n', and at the file's first byte; the part's first line is the
  // part before's where the part does not start the file.
  int64_t lines = newlines + (part.begin == 0 ? 1 : 0);
  // The last of them starts right at the part's end: a line only where bytes follow there.
  const bool lastAtEnd = newlines > 0 ? last == '\n' : bytes == 0;
  if (lines > 0 && lastAtEnd) {
    char next = 0;
    decoder.limitInput(static_cast<int64_t>(data.size()));
    if (decoder.read(&next, 1) == 0) --lines;
  }
  return lines;
}

std::optional<std::string> jsonLinesFileProblem(const std::string& path, std::string_view data) {
  const Compression kind = compressionOf(path);
  if (kind == Compression::none || data.empty()) return notJsonLinesReason(path, data);
  if (!startsAs(data, kind))
    return fmt::format(
        "'{}' is named as a {} file but does not start as one: rename it if it is not "
        "compressed (a name ending in .gz or .zst says that the file is read decompressed), or "
        "compress it again",
        path, formatName(kind));
  std::string head(kHeadBytes, '\0');
  Decompressor decoder(data, kind, path);
  size_t got = 0;
  while (got < head.size()) {
    const size_t n = decoder.read(head.data() + got, head.size() - got);
    if (n == 0) break;
    got += n;
  }
  head.resize(got);
  // A compressed tar archive or a compressed file of a compressed file names itself here.
  if (auto reason = notJsonLinesReason(path, head))
    return fmt::format("{} (read decompressed: its name ends in {})", *reason,
                       compressionSuffix(kind));
  return std::nullopt;
}

}  // namespace eleanor
