// InputLines: which file and line of it an input line number is, for an input of several files
// read as one (input_files.h). Apart from the listing so that formatting errors.jsonl needs no
// file system or communicator.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eleanor {

// Where a line of the input (its files read as one, lines numbered from 1 across them) is: the
// file and the line in that file. With one file the numbers are the file's own.
class InputLines {
 public:
  InputLines() = default;
  // `firstLines[i]`: the input line number of file i's first line; ascending, one per path.
  InputLines(std::vector<std::string> paths, std::vector<int64_t> firstLines);

  bool severalFiles() const { return paths_.size() > 1; }
  struct Place {
    const std::string* path;  // nullptr without files
    int64_t line;             // in that file
  };
  Place locate(int64_t line) const;
  // "line 12" with one file; "line 12 of 'parts/b.jsonl'" with several.
  std::string describe(int64_t line) const;

 private:
  std::vector<std::string> paths_;
  std::vector<int64_t> firstLines_;
};

}  // namespace eleanor
