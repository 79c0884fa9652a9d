// libFuzzer target: bytes as an `embeddings.npy` file. parseNpyHeader on the bytes; when it
// accepts them, the same bytes written to a file and read back through NpyMatrix: the whole
// matrix and each rank's rows for a world size taken from the input, as the search does.
// Contract (npy.h): only UserError escapes; an accepted header describes a body that lies
// inside the file, and reading any row range of it stays inside the mapping.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/npy.h"
#include "common/partition.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// Reading allocates rows * cols floats; the body bounds that by the input size, except for a
// zero-width matrix, whose rows cost nothing. Beyond this many rows the check is skipped.
constexpr int64_t kMaxRowsToRead = int64_t{1} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using eleanor::fuzz::violated;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  eleanor::NpyHeader header;
  try {
    header = eleanor::parseNpyHeader(bytes, "fuzz.npy");
  } catch (const eleanor::UserError&) {
    return 0;
  }
  if (header.rows < 0 || header.cols < 0) violated("negative shape");
  if (header.dataOffset > size) violated("data offset past the end of the file");
  const auto needed =
      static_cast<unsigned __int128>(header.rows) * header.cols * header.elementSize();
  if (needed > size - header.dataOffset) violated("body shorter than the shape");
  if (header.rows > kMaxRowsToRead) return 0;

  const eleanor::NpyMatrix matrix(eleanor::fuzz::writeFile("embeddings.npy", bytes));
  if (matrix.rows() != header.rows || matrix.cols() != header.cols)
    violated("NpyMatrix disagrees with parseNpyHeader");
  const eleanor::Matrix all = matrix.readRows({0, matrix.rows()});
  if (all.rows != matrix.rows() || all.values.size() != static_cast<size_t>(all.rows * all.cols))
    violated("readRows returned another shape");
  const int parts = 1 + static_cast<int>(size % 5);
  int64_t covered = 0;
  for (int part = 0; part < parts; ++part) {
    const eleanor::Range range = eleanor::evenSplit(matrix.rows(), parts, part);
    const eleanor::Matrix shard = matrix.readRows(range);
    for (size_t i = 0; i < shard.values.size(); ++i) {
      const float expected = all.values[static_cast<size_t>(range.begin * all.cols) + i];
      const float got = shard.values[i];
      if (!(got == expected || (got != got && expected != expected)))
        violated("a shard's rows differ from the same rows read whole");
    }
    covered += range.size();
  }
  if (covered != matrix.rows()) violated("the shards do not cover the matrix");
  return 0;
}
