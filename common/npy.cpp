#include "common/npy.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <regex>

#include "common/error.h"

namespace eleanor {
namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);
// numpy.save writes about 128 bytes for a 2-D float array. The cap keeps the dict short for
// std::regex, whose matcher recurses once per character of a repeat: a 60 KB header overflowed
// an 8 MiB stack in the release build, a 6 KB one under ASan.
constexpr size_t kMaxHeaderBytes = 2048;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw UserError(fmt::format("precedent embeddings '{}': {}", path, problem));
}

// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
std::string dictValue(const std::string& dict, const std::string& key, const std::string& path) {
  const std::regex pattern("['\"]" + key + "['\"]\\s*:\\s*(\\([^)]*\\)|'[^']*'|\"[^\"]*\"|\\w+)");
  std::smatch match;
  if (!std::regex_search(dict, match, pattern)) fail(path, "header has no '" + key + "' entry");
  return match[1].str();
}

}  // namespace

float halfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalise
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3ffu;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

NpyHeader parseNpyHeader(std::string_view file, const std::string& path) {
  static_assert(std::endian::native == std::endian::little, "big-endian hosts are not supported");
  if (file.size() < 10 || file.substr(0, 6) != kMagic)
    fail(path, "not a NumPy .npy file (no \\x93NUMPY magic); write it with numpy.save");
  const auto major = static_cast<uint8_t>(file[6]);
  size_t headerLength = 0;
  size_t prefix = 0;
  if (major == 1) {
    headerLength = static_cast<uint8_t>(file[8]) | static_cast<uint8_t>(file[9]) << 8;
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (file.size() < 12) fail(path, "truncated header");
    headerLength = 0;
    for (int i = 3; i >= 0; --i)
      headerLength = headerLength << 8 | static_cast<uint8_t>(file[8 + i]);
    prefix = 12;
  } else {
    fail(path, fmt::format("unsupported .npy version {}", major));
  }
  if (file.size() < prefix + headerLength) fail(path, "truncated header");
  if (headerLength > kMaxHeaderBytes)
    fail(path, fmt::format("header of {} bytes is longer than a float matrix needs ({} at "
                           "most; numpy.save writes about 128): write the file with numpy.save",
                           headerLength, kMaxHeaderBytes));
  const std::string dict(file.substr(prefix, headerLength));

  NpyHeader header;
  const std::string descr = dictValue(dict, "descr", path);
  if (descr == "'<f4'" || descr == "'=f4'") {
    header.dtype = NpyDtype::Float32;
  } else if (descr == "'<f2'" || descr == "'=f2'") {
    header.dtype = NpyDtype::Float16;
  } else {
    fail(path, fmt::format("dtype {} is not supported: save float32 or float16, e.g. "
                           "numpy.save(path, embeddings.astype('float32'))",
                           descr));
  }
  if (dictValue(dict, "fortran_order", path) != "False")
    fail(path, "Fortran order is not supported: save a C-order array (numpy.ascontiguousarray)");

  const std::string shape = dictValue(dict, "shape", path);
  std::smatch dims;
  static const std::regex twoDims(R"(^\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)$)");
  if (!std::regex_match(shape, dims, twoDims))
    fail(path, fmt::format("shape {} is not 2-D (N, D)", shape));
  try {
    header.rows = std::stoll(dims[1].str());
    header.cols = std::stoll(dims[2].str());
  } catch (const std::out_of_range&) {
    fail(path, fmt::format("shape {} is too large", shape));
  }
  header.dataOffset = prefix + headerLength;

  const auto needed =
      static_cast<unsigned __int128>(header.rows) * header.cols * header.elementSize();
  const size_t body = file.size() - header.dataOffset;
  if (needed > body) {
    fail(path, fmt::format("truncated: shape ({}, {}) needs {} bytes of data, the file has {}",
                           header.rows, header.cols, needed, body));
  }
  return header;
}

NpyMatrix::NpyMatrix(const std::string& path)
    : file_(path), header_(parseNpyHeader(file_.view(), path)) {}

Matrix NpyMatrix::readRows(Range range) const {
  ELEANOR_ASSERT(range.begin >= 0 && range.begin <= range.end && range.end <= header_.rows,
                 "row range outside the matrix");
  Matrix out(range.size(), header_.cols);
  const size_t count = out.values.size();
  const char* source =
      file_.data() + header_.dataOffset + range.begin * header_.cols * header_.elementSize();
  if (header_.dtype == NpyDtype::Float32) {
    // An empty range has no buffer: memcpy from or to a null pointer is undefined even for 0.
    if (count > 0) std::memcpy(out.values.data(), source, count * sizeof(float));
  } else {
    for (size_t i = 0; i < count; ++i) {
      uint16_t half;
      std::memcpy(&half, source + 2 * i, 2);
      out.values[i] = halfToFloat(half);
    }
  }
  return out;
}

std::string npyHeaderBytes(int64_t rows, int64_t cols) {
  std::string dict =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
  const size_t unpadded = 10 + dict.size() + 1;  // magic+version+length, dict, '\n'
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string bytes(kMagic);
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  bytes.push_back(static_cast<char>(dict.size() & 0xff));
  bytes.push_back(static_cast<char>(dict.size() >> 8));
  return bytes + dict;
}

}  // namespace eleanor
