// Test data for compressed inputs: `text` as a gzip file of `parts` members or a zstd file of
// `parts` frames (each part compressed on its own and the results joined, as pigz, bgzip or
// `cat a.gz b.gz` write them). Built with the libraries directly, so that the reader under test
// is checked against them, not against itself.
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace eleanor::testing {

inline std::string gzipMember(std::string_view text) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(out.size() - z.avail_out);
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

}  // namespace eleanor::testing
