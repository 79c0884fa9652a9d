#include "worker/cases/compressed_input.h"

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "common/error.h"
#include "common/partition.h"
#include "worker/cases/input_format.h"

namespace eleanor {
namespace {

std::string_view formatName(Compression kind) {
  return kind == Compression::gzip ? "gzip" : "zstd";
}

std::string_view magicOf(Compression kind) {
  return kind == Compression::gzip ? std::string_view("\x1F\x8B") : "\x28\xB5\x2F\xFD";
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

}  // namespace

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
  size_t in = 0;  // compressed bytes consumed
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

Decompressor::Decompressor(std::string_view data, Compression kind, std::string path)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.data = data;
  s.kind = kind;
  s.path = std::move(path);
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

Decompressor::~Decompressor() = default;
Decompressor::Decompressor(Decompressor&&) noexcept = default;
Decompressor& Decompressor::operator=(Decompressor&&) noexcept = default;

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
      if (rest.substr(0, 2) != magicOf(Compression::gzip))
        damaged(path, kind, static_cast<int64_t>(in),
                "bytes that are not gzip follow the end of its compressed data");
      inflateReset(&zlib);
      memberEnded = false;
    }
    const size_t rest = data.size() - in;
    zlib.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in));
    zlib.avail_in = static_cast<uInt>(std::min<size_t>(rest, UINT_MAX));
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
    // Z_OK or Z_BUF_ERROR: no progress is possible without more input or more room.
    if (zlib.avail_out > 0 && in == data.size()) cutShort(path, kind, static_cast<int64_t>(in));
  }
  return outLimit - zlib.avail_out;
}

size_t Decompressor::State::readZstd(char* out, size_t capacity) {
  ZSTD_outBuffer output{out, capacity, 0};
  ZSTD_inBuffer input{data.data(), data.size(), in};
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
    if (hint == 0) {  // every frame complete and flushed
      finished = true;
      break;
    }
    // All input read, and the frame wants more: only what zstd still holds can come out.
    if (output.pos == before) cutShort(path, kind, static_cast<int64_t>(in));
  }
  return output.pos;
}

CompressedLineReader::CompressedLineReader(std::string_view data, Compression kind,
                                           std::string path, int64_t firstLine,
                                           int64_t maxLineBytes)
    : decoder_(data, kind, std::move(path)),
      buffer_(kReadBytes),
      lineNumber_(firstLine),
      maxLineBytes_(maxLineBytes) {}

bool CompressedLineReader::fill() {
  if (ended_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  const size_t got = decoder_.read(buffer_.data() + end_, buffer_.size() - end_);
  if (got == 0) ended_ = true;
  end_ += got;
  return got > 0;
}

Line CompressedLineReader::skipLongLine() {
  // The line's bytes so far are dropped; count on to its '\n' (or the end of the data).
  int64_t length = static_cast<int64_t>(end_ - begin_);
  char last = buffer_[end_ - 1];
  begin_ = scanned_ = end_ = 0;
  while (fill()) {
    const void* newline = std::memchr(buffer_.data(), '\n', end_);
    if (newline == nullptr) {
      length += static_cast<int64_t>(end_);
      last = buffer_[end_ - 1];
      end_ = 0;
      continue;
    }
    const auto at = static_cast<size_t>(static_cast<const char*>(newline) - buffer_.data());
    length += static_cast<int64_t>(at);
    if (at > 0) last = buffer_[at - 1];
    begin_ = scanned_ = at + 1;
    break;
  }
  return {lineNumber_++, {}, length - (last == '\r' ? 1 : 0)};
}

Line CompressedLineReader::take(const char* start, size_t length) {
  if (length > 0 && start[length - 1] == '\r') --length;
  // A line over the limit is given by its length alone, wherever the buffer's edges fell.
  if (static_cast<int64_t>(length) > maxLineBytes_)
    return {lineNumber_++, {}, static_cast<int64_t>(length)};
  return {lineNumber_++, std::string_view(start, length)};
}

std::optional<Line> CompressedLineReader::next() {
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

int64_t countCompressedLines(std::string_view data, Compression kind, const std::string& path) {
  Decompressor decoder(data, kind, path);
  std::vector<char> buffer(kReadBytes);
  int64_t lines = 0;
  char last = '\n';
  while (const size_t got = decoder.read(buffer.data(), buffer.size())) {
    lines += countNewlines(std::string_view(buffer.data(), got));
    last = buffer[got - 1];
  }
  return lines + (last != '\n' ? 1 : 0);
}

std::optional<std::string> jsonLinesFileProblem(const std::string& path, std::string_view data) {
  const Compression kind = compressionOf(path);
  if (kind == Compression::none || data.empty()) return notJsonLinesReason(path, data);
  if (data.substr(0, magicOf(kind).size()) != magicOf(kind))
    return fmt::format(
        "'{}' is named as a {} file but does not start as one: rename it if it is not "
        "compressed (a name ending in .gz or .zst says that one rank reads the file whole, "
        "decompressing it), or compress it again",
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
