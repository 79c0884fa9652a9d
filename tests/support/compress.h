// Test data for compressed inputs: `text` as a gzip file of `parts` members or a zstd file of
// `parts` frames (each part compressed on its own and the results joined, as `cat a.gz b.gz`
// writes them), or as bgzip and pzstd write files that ranks can split. Built with the libraries
// directly, so that the reader under test is checked against them, not against itself.
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace eleanor::testing {

// A gzip member of `text`; with `bgzf`, written as bgzip writes a block: an extra field whose
// "BC" subfield holds the member's size less one.
inline std::string gzipMember(std::string_view text, bool bgzf = false) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  unsigned char extra[6] = {'B', 'C', 2, 0, 0, 0};
  gz_header header{};
  header.extra = extra;
  header.extra_len = sizeof extra;
  header.os = 255;
  if (bgzf && deflateSetHeader(&z, &header) != Z_OK) throw std::runtime_error("deflateSetHeader");
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(out.size() - z.avail_out);
  if (bgzf) {  // the size, at the subfield's data (after the 12 bytes of header and 4 of subfield)
    if (out.size() > 65536) throw std::runtime_error("a BGZF block over 64 KiB");
    out[16] = static_cast<char>((out.size() - 1) & 0xFF);
    out[17] = static_cast<char>((out.size() - 1) >> 8);
  }
  return out;
}

inline std::string zstdFrame(std::string_view text) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);  // as the zstd command writes
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t size = ZSTD_compress2(context, out.data(), out.size(), text.data(), text.size());
  ZSTD_freeCCtx(context);
  if (ZSTD_isError(size)) throw std::runtime_error("ZSTD_compress2");
  out.resize(size);
  return out;
}

// `text` cut into `parts` pieces of about equal size, each compressed alone, joined.
inline std::string compressed(std::string_view text, bool gzip, int parts = 1) {
  std::string out;
  size_t begin = 0;
  for (int p = 1; p <= parts; ++p) {
    const size_t end = text.size() * p / parts;
    const std::string_view piece = text.substr(begin, end - begin);
    out += gzip ? gzipMember(piece) : zstdFrame(piece);
    begin = end;
  }
  return out;
}

// `text` in pieces of `pieceBytes` (the last shorter), compressed as the parallel compressors
// write them: with `gzip`, as bgzip does (BGZF blocks, then its empty end-of-file block; a piece
// must compress to at most 64 KiB); else as pzstd does (each zstd frame after a skippable frame
// holding its size).
inline std::string splittable(std::string_view text, bool gzip, size_t pieceBytes) {
  std::string out;
  for (size_t begin = 0; begin < text.size(); begin += pieceBytes) {
    const std::string_view piece = text.substr(begin, pieceBytes);
    if (gzip) {
      out += gzipMember(piece, true);
      continue;
    }
    const std::string frame = zstdFrame(piece);
    const char size[4] = {
        static_cast<char>(frame.size() & 0xFF), static_cast<char>(frame.size() >> 8 & 0xFF),
        static_cast<char>(frame.size() >> 16 & 0xFF), static_cast<char>(frame.size() >> 24)};
    out += std::string("\x50\x2A\x4D\x18\x04\x00\x00\x00", 8) + std::string(size, 4) + frame;
  }
  if (gzip) out += gzipMember("", true);
  return out;
}

}  // namespace eleanor::testing
