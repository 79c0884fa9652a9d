// NumPy .npy files holding a 2-D matrix (N × D, C order), float32 or float16, little-endian:
// the format users write with numpy.save. Versions 1.0, 2.0 and 3.0 of the header are read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/mapped_file.h"
#include "common/matrix.h"
#include "common/partition.h"

namespace eleanor {

enum class NpyDtype { Float32, Float16 };

struct NpyHeader {
  NpyDtype dtype = NpyDtype::Float32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t dataOffset = 0;  // bytes from the file start to row 0
  size_t elementSize() const { return dtype == NpyDtype::Float32 ? 4 : 2; }
};

// Parses and checks the header at the start of `file` (the whole file, so the body size can be
// checked too). Throws UserError naming `path` and what is wrong: not .npy, unsupported dtype
// (with what to do), Fortran order, not 2-D, body shorter than the shape says.
NpyHeader parseNpyHeader(std::string_view file, const std::string& path);

// A memory-mapped .npy matrix; only the rows asked for are read from disk.
class NpyMatrix {
 public:
  explicit NpyMatrix(const std::string& path);
  const NpyHeader& header() const { return header_; }
  int64_t rows() const { return header_.rows; }
  int64_t cols() const { return header_.cols; }
  FileStamp stamp() const { return file_.stamp(); }
  const std::string& path() const { return file_.path(); }
  // Rows [range.begin, range.end) as float32.
  Matrix readRows(Range range) const;

 private:
  MappedFile file_;
  NpyHeader header_;
};

// The bytes of a version 1.0 header for a float32 rows × cols matrix, padded so the data that
// follows starts on a 64-byte boundary.
std::string npyHeaderBytes(int64_t rows, int64_t cols);

float halfToFloat(uint16_t half);

}  // namespace eleanor
