// NumPy .npy: float32 files written with npyHeaderBytes read back bit for bit; float16 files
// against an independent half -> float reference (every bit pattern, subnormals, inf, -0);
// the header variants numpy writes; each user error's message; and, when /usr/bin/python3 has
// numpy, files numpy.save itself wrote.
#include "common/npy.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/unit/scratch_dir.h"

namespace eleanor {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSeed = 4242;
constexpr size_t kAlignment = 64;

// Independent of halfToFloat: the value of an IEEE binary16 pattern in double arithmetic.
float referenceHalf(uint16_t half) {
  const bool negative = half & 0x8000u;
  const int exponent = (half >> 10) & 0x1f;
  const int mantissa = half & 0x3ff;
  double value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<double>(mantissa), -24);
  } else if (exponent == 0x1f) {
    value = mantissa ? std::numeric_limits<double>::quiet_NaN()
                     : std::numeric_limits<double>::infinity();
  } else {
    value = std::ldexp(static_cast<double>(1024 + mantissa), exponent - 25);
  }
  return static_cast<float>(negative ? -value : value);
}

// Equal bits, or both NaN with the same sign.
bool sameFloat(float a, float b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) && std::signbit(a) == std::signbit(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// A header the way numpy writes one: magic, version, little-endian length (2 bytes for 1.0,
// 4 for 2.0/3.0), the dict padded with spaces and ended by '\n' so the data is 64-aligned.
std::string npyHeader(int major, const std::string& dict) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string padded = dict;
  padded.append((kAlignment - (prefix + padded.size() + 1) % kAlignment) % kAlignment, ' ');
  padded.push_back('\n');
  std::string bytes("\x93NUMPY", 6);
  bytes.push_back(static_cast<char>(major));
  bytes.push_back('\0');
  const size_t lengthBytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < lengthBytes; ++i)
    bytes.push_back(static_cast<char>((padded.size() >> (8 * i)) & 0xff));
  return bytes + padded;
}

std::string dictFor(const std::string& descr, int64_t rows, int64_t cols,
                    const std::string& fortran = "False") {
  return fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': ({}, {}), }}", descr, fortran,
                     rows, cols);
}

template <class T>
std::string bytesOf(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

class Npy : public ScratchDirTest {
 protected:
  // The UserError message of opening `bytes` as a .npy file ("" when it opens).
  std::string openError(const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    try {
      NpyMatrix matrix(path);
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(Npy, Float32RowRangesReadBackExactly) {
  std::mt19937_64 rng(kSeed);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t rows = static_cast<int64_t>(rng() % 50);
    const int64_t cols = 1 + static_cast<int64_t>(rng() % 40);
    std::vector<uint32_t> bits(static_cast<size_t>(rows * cols));
    for (auto& b : bits) b = static_cast<uint32_t>(rng());  // any pattern, NaNs included
    const std::string path =
        write(fmt::format("f32-{}.npy", trial), npyHeaderBytes(rows, cols) + bytesOf(bits));
    const NpyMatrix matrix(path);
    const std::string params =
        fmt::format("seed={} trial={} rows={} cols={}", kSeed, trial, rows, cols);
    ASSERT_EQ(matrix.rows(), rows) << params;
    ASSERT_EQ(matrix.cols(), cols) << params;
    EXPECT_EQ(matrix.header().dtype, NpyDtype::Float32) << params;
    EXPECT_EQ(matrix.path(), path);
    for (int r = 0; r < 5; ++r) {
      int64_t begin = static_cast<int64_t>(rng() % (rows + 1));
      int64_t end = static_cast<int64_t>(rng() % (rows + 1));
      if (begin > end) std::swap(begin, end);
      const Matrix m = matrix.readRows({begin, end});
      ASSERT_EQ(m.rows, end - begin) << params;
      ASSERT_EQ(m.cols, cols) << params;
      for (int64_t i = 0; i < m.rows * cols; ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(m.values[static_cast<size_t>(i)]),
                  bits[static_cast<size_t>(begin * cols + i)])
            << params << " rows [" << begin << ", " << end << ") element " << i;
      }
    }
  }
}

TEST_F(Npy, ReadRowsOutsideTheMatrixIsAnInternalError) {
  const std::vector<float> values(6, 1.0f);
  const NpyMatrix matrix(write("m.npy", npyHeaderBytes(2, 3) + bytesOf(values)));
  EXPECT_THROW(matrix.readRows({0, 3}), InternalError);
  EXPECT_THROW(matrix.readRows({-1, 1}), InternalError);
  EXPECT_THROW(matrix.readRows({2, 1}), InternalError);
  EXPECT_EQ(matrix.readRows({1, 2}).values, std::vector<float>(3, 1.0f));
}

// Empty row ranges and zero-width matrices have no buffer to copy into. Found by
// tests/fuzz/fuzz_npy: readRows passed a null pointer to memcpy, which UBSan reports (this test
// fails in the sanitizer build, scripts/test-asan.sh, without the fix).
TEST_F(Npy, EmptyRangesAndZeroWidthMatricesReadAsEmpty) {
  for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{0, 5}, {3, 0}, {2, 3}}) {
    const std::vector<float> values(static_cast<size_t>(rows * cols), 2.0f);
    const NpyMatrix matrix(write("empty.npy", npyHeaderBytes(rows, cols) + bytesOf(values)));
    for (const Range range : {Range{0, 0}, Range{rows, rows}, Range{0, rows}}) {
      const Matrix m = matrix.readRows(range);
      EXPECT_EQ(m.rows, range.size()) << rows << "x" << cols;
      EXPECT_EQ(m.values, std::vector<float>(static_cast<size_t>(range.size() * cols), 2.0f))
          << rows << "x" << cols << " rows [" << range.begin << ", " << range.end << ")";
    }
  }
}

TEST(NpyHalf, EveryBitPatternMatchesTheReference) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const auto half = static_cast<uint16_t>(h);
    ASSERT_TRUE(sameFloat(halfToFloat(half), referenceHalf(half))) << fmt::format(
        "half 0x{:04x}: got {} expected {}", h, halfToFloat(half), referenceHalf(half));
  }
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(halfToFloat(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(halfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(halfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(halfToFloat(0x8000)));
  EXPECT_EQ(halfToFloat(0x3c00), 1.0f);
}

TEST_F(Npy, Float16FilesMatchTheReference) {
  std::mt19937_64 rng(kSeed + 1);
  const std::vector<uint16_t> specials = {0x0000, 0x8000, 0x0001, 0x83ff, 0x03ff, 0x0400,
                                          0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x3c00, 0xbc00};
  const int64_t rows = 37;
  const int64_t cols = 11;
  std::vector<uint16_t> halves(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < halves.size(); ++i)
    halves[i] = i < specials.size() ? specials[i] : static_cast<uint16_t>(rng());
  const std::string path =
      write("f16.npy", npyHeader(1, dictFor("<f2", rows, cols)) + bytesOf(halves));
  const NpyMatrix matrix(path);
  ASSERT_EQ(matrix.header().dtype, NpyDtype::Float16);
  EXPECT_EQ(matrix.header().elementSize(), 2u);
  for (const Range range : {Range{0, rows}, Range{5, 6}, Range{13, 30}, Range{rows, rows}}) {
    const Matrix m = matrix.readRows(range);
    for (int64_t i = 0; i < range.size() * cols; ++i) {
      const uint16_t half = halves[static_cast<size_t>(range.begin * cols + i)];
      ASSERT_TRUE(sameFloat(m.values[static_cast<size_t>(i)], referenceHalf(half))) << fmt::format(
          "seed={} rows [{}, {}) element {} half 0x{:04x}: got {} expected {}", kSeed + 1,
          range.begin, range.end, i, half, m.values[i], referenceHalf(half));
    }
  }
}

TEST_F(Npy, HeaderVariantsNumpyWrites) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<std::string> dicts = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,4)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': ( 3 , 4 , ), }",
      "{'shape': (3, 4), 'fortran_order': False, 'descr': '<f4'}",
  };
  for (int major : {1, 2, 3}) {
    for (size_t d = 0; d < dicts.size(); ++d) {
      const std::string name = fmt::format("v{}-{}.npy", major, d);
      const std::string path = write(name, npyHeader(major, dicts[d]) + bytesOf(values));
      SCOPED_TRACE(fmt::format("version {}.0, header {}", major, dicts[d]));
      const NpyMatrix matrix(path);
      EXPECT_EQ(matrix.rows(), 3);
      EXPECT_EQ(matrix.cols(), 4);
      EXPECT_EQ(matrix.header().dataOffset % kAlignment, 0u);
      EXPECT_EQ(matrix.readRows({1, 3}).values,
                std::vector<float>(values.begin() + 4, values.end()));
    }
  }
}

TEST_F(Npy, NotNpyNamesThePathAndSaysHowToWriteOne) {
  for (const std::string& bytes :
       {std::string("hello, world, this is text\n"), std::string(), std::string("\x93NUMP", 5)}) {
    const std::string message = openError("text.npy", bytes);
    EXPECT_NE(message.find((dir_ / "text.npy").string()), std::string::npos) << message;
    EXPECT_NE(message.find("not a NumPy .npy file"), std::string::npos) << message;
    EXPECT_NE(message.find("numpy.save"), std::string::npos) << message;
  }
}

TEST_F(Npy, MissingFileNamesThePath) {
  const std::string path = (dir_ / "absent.npy").string();
  try {
    NpyMatrix matrix(path);
    FAIL() << "opening a missing file did not throw";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(Npy, Float64SaysToSaveFloat32OrFloat16) {
  const std::vector<double> values(12, 0.5);
  const std::string message =
      openError("f8.npy", npyHeader(1, dictFor("<f8", 3, 4)) + bytesOf(values));
  EXPECT_NE(message.find("'<f8'"), std::string::npos) << message;
  EXPECT_NE(message.find("float32"), std::string::npos) << message;
  EXPECT_NE(message.find("float16"), std::string::npos) << message;
  EXPECT_NE(message.find("astype('float32')"), std::string::npos) << message;
}

TEST_F(Npy, BigEndianAndOtherDtypesAreRefused) {
  for (const std::string descr : {">f4", ">f2", "<i4", "|u1", "<c8"}) {
    const std::string message =
        openError("dtype.npy", npyHeader(1, dictFor(descr, 2, 2)) + std::string(64, '\0'));
    EXPECT_NE(message.find("dtype '" + descr + "' is not supported"), std::string::npos)
        << descr << ": " << message;
  }
}

TEST_F(Npy, FortranOrderIsRefused) {
  const std::string message =
      openError("f.npy", npyHeader(1, dictFor("<f4", 2, 2, "True")) + std::string(16, '\0'));
  EXPECT_NE(message.find("Fortran order is not supported"), std::string::npos) << message;
  EXPECT_NE(message.find("ascontiguousarray"), std::string::npos) << message;
}

TEST_F(Npy, ShapesThatAreNotTwoDimensionalAreRefused) {
  for (const std::string shape : {"(12,)", "(3, 4, 1)", "()", "(2, -3)"}) {
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    const std::string message = openError("shape.npy", npyHeader(1, dict) + std::string(48, '\0'));
    EXPECT_NE(message.find("shape " + shape + " is not 2-D (N, D)"), std::string::npos)
        << shape << ": " << message;
  }
}

TEST_F(Npy, MissingHeaderEntriesAreNamed) {
  const std::string message =
      openError("keys.npy", npyHeader(1, "{'descr': '<f4', 'shape': (1, 1), }") + "abcd");
  EXPECT_NE(message.find("header has no 'fortran_order' entry"), std::string::npos) << message;
}

TEST_F(Npy, TruncatedBodyNamesThePathAndTheByteCounts) {
  const std::string path = (dir_ / "short.npy").string();
  const std::string message =
      openError("short.npy", npyHeader(1, dictFor("<f4", 4, 3)) + std::string(40, '\0'));
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("shape (4, 3) needs 48 bytes of data, the file has 40"), std::string::npos)
      << message;
  // A body longer than the shape needs is accepted (numpy never writes one, but it is harmless).
  EXPECT_EQ(openError("long.npy", npyHeader(1, dictFor("<f4", 4, 3)) + std::string(52, '\0')), "");
}

TEST_F(Npy, TruncatedHeaderIsRefused) {
  std::string bytes = npyHeader(1, dictFor("<f4", 1, 1));
  bytes.resize(bytes.size() - 5);
  const std::string message = openError("header.npy", bytes);
  EXPECT_NE(message.find("truncated header"), std::string::npos) << message;
  EXPECT_NE(openError("v9.npy", std::string("\x93NUMPY\x09\x00\x10\x00", 10) + "{}")
                .find("unsupported .npy version 9"),
            std::string::npos);
}

// A header claiming more rows than int64 holds is a broken file like any other: a UserError
// naming the path, not a std::out_of_range from deep inside the parser.
TEST_F(Npy, HugeDimensionIsAUserError) {
  const std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2), }";
  const std::string path = write("huge.npy", npyHeader(1, dict) + std::string(8, '\0'));
  try {
    NpyMatrix matrix(path);
    FAIL() << "a 10^20-row header was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    FAIL() << "threw " << typeid(e).name() << " instead of UserError: " << e.what();
  }
}

// A header numpy.save would never write (about 128 bytes for a 2-D float array) is a UserError.
// One of some 60 KB, still a valid 1.0 length, crashed the reader: std::regex's recursive
// matcher overflowed the stack (found by probing tests/fuzz/fuzz_npy with long headers).
TEST_F(Npy, OverlongHeaderIsAUserErrorNotACrash) {
  for (const int major : {1, 2}) {
    for (const size_t padding : {size_t{3000}, size_t{60000}}) {
      const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                               std::string(padding, ' ') + "1, 1), }";
      const std::string message =
          openError("long.npy", npyHeader(major, dict) + std::string(4, '\0'));
      const std::string params = fmt::format("version {} padding {}", major, padding);
      EXPECT_NE(message.find(fmt::format("header of {}", padding / 1000)), std::string::npos)
          << params << ": " << message;
      EXPECT_NE(message.find("longer than a float matrix needs (2048 at most"), std::string::npos)
          << params << ": " << message;
    }
  }
  // Padding within the limit is still read.
  const std::string padded =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(1500, ' ') + "1, 1), }";
  EXPECT_EQ(openError("padded.npy", npyHeader(1, padded) + std::string(4, '\0')), "");
}

// The byte count in the message must be the one the shape needs, even when it exceeds 2^64.
TEST_F(Npy, TruncatedMessageStatesBytesBeyond64Bits) {
  const int64_t side = int64_t{1} << 40;  // 2^40 * 2^40 * 4 bytes = 2^82
  const std::string message =
      openError("big.npy", npyHeader(1, dictFor("<f4", side, side)) + std::string(8, '\0'));
  EXPECT_NE(message.find("needs 4835703278458516698824704 bytes"), std::string::npos) << message;
}

TEST(NpyHeaderBytes, AlignedAndParsesBack) {
  std::mt19937_64 rng(kSeed + 2);
  std::vector<std::pair<int64_t, int64_t>> shapes = {{0, 0}, {0, 7}, {1, 1}, {3, 4}, {1000, 384}};
  for (int i = 0; i < 200; ++i)
    shapes.emplace_back(static_cast<int64_t>(rng() % 100000), static_cast<int64_t>(rng() % 5000));
  for (int digits = 1; digits <= 18; ++digits) {
    const auto power = static_cast<int64_t>(std::pow(10.0, digits - 1));
    shapes.emplace_back(power, power % 100000 + 1);  // every header length
  }
  for (const auto& [rows, cols] : shapes) {
    const std::string header = npyHeaderBytes(rows, cols);
    const std::string params = fmt::format("seed={} rows={} cols={}", kSeed + 2, rows, cols);
    ASSERT_EQ(header.size() % kAlignment, 0u) << params;
    ASSERT_EQ(header.back(), '\n') << params;
    ASSERT_EQ(header.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8)) << params;
    const size_t dictLength = static_cast<uint8_t>(header[8]) | static_cast<uint8_t>(header[9])
                                                                    << 8;
    ASSERT_EQ(dictLength + 10, header.size()) << params;
    const auto bodyBytes = static_cast<unsigned __int128>(rows) * cols * 4;
    if (bodyBytes <= (1u << 22)) {
      const std::string file = header + std::string(static_cast<size_t>(bodyBytes), '\0');
      const NpyHeader parsed = parseNpyHeader(file, "mem.npy");
      EXPECT_EQ(parsed.rows, rows) << params;
      EXPECT_EQ(parsed.cols, cols) << params;
      EXPECT_EQ(parsed.dtype, NpyDtype::Float32) << params;
      EXPECT_EQ(parsed.dataOffset, header.size()) << params;
    } else {
      // Too big to materialise: the truncation message still shows the shape parsed back.
      try {
        parseNpyHeader(header, "mem.npy");
        ADD_FAILURE() << params << ": no body, yet no error";
      } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find(fmt::format("shape ({}, {})", rows, cols)),
                  std::string::npos)
            << params << ": " << e.what();
      }
    }
  }
}

bool haveNumpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

TEST_F(Npy, FilesNumpySaveWrote) {
  if (!haveNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const std::string script = fmt::format(
      "import numpy as np, os\n"
      "d = '{}'\n"
      "a = np.arange(35, dtype=np.float32).reshape(5, 7) / np.float32(8) - np.float32(2)\n"
      "np.save(os.path.join(d, 'f32.npy'), a)\n"
      "h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(256, 256)\n"
      "np.save(os.path.join(d, 'f16.npy'), h)\n"
      "with open(os.path.join(d, 'v2.npy'), 'wb') as f:\n"
      "    np.lib.format.write_array(f, a, version=(2, 0))\n"
      "np.save(os.path.join(d, 'f64.npy'), a.astype(np.float64))\n"
      "np.save(os.path.join(d, 'fortran.npy'), np.asfortranarray(a))\n"
      "np.save(os.path.join(d, 'vector.npy'), a[0])\n",
      dir_.string());
  const std::string scriptPath = write("make.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + scriptPath).c_str()), 0) << script;

  for (const char* name : {"f32.npy", "v2.npy"}) {
    const NpyMatrix matrix((dir_ / name).string());
    ASSERT_EQ(matrix.rows(), 5) << name;
    ASSERT_EQ(matrix.cols(), 7) << name;
    const Matrix m = matrix.readRows({0, 5});
    for (int i = 0; i < 35; ++i)
      ASSERT_EQ(m.values[i], static_cast<float>(i) / 8.0f - 2.0f) << name << " element " << i;
  }
  const NpyMatrix halves((dir_ / "f16.npy").string());
  ASSERT_EQ(halves.header().dtype, NpyDtype::Float16);
  const Matrix h = halves.readRows({0, 256});
  for (uint32_t i = 0; i < 65536; ++i) {
    ASSERT_TRUE(sameFloat(h.values[i], referenceHalf(static_cast<uint16_t>(i))))
        << fmt::format("half 0x{:04x}: got {} expected {}", i, h.values[i],
                       referenceHalf(static_cast<uint16_t>(i)));
  }
  EXPECT_THROW(NpyMatrix((dir_ / "f64.npy").string()), UserError);
  EXPECT_THROW(NpyMatrix((dir_ / "fortran.npy").string()), UserError);
  EXPECT_THROW(NpyMatrix((dir_ / "vector.npy").string()), UserError);
}

}  // namespace
}  // namespace eleanor
