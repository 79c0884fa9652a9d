// One case of the input: a text an AI system was given and, optionally, what it answered.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace eleanor {

struct Case {
  int64_t line = 0;         // 1-based line of the input file, as editors count
  std::string id;           // required, unique per job
  std::string text;         // required: the prompt / input the system received
  std::string output;       // optional: the model's answer under review ("" when absent)
  std::string contextJson;  // optional: the "context" object as compact JSON ("" when absent)
};

// A line that could not become a case; it goes to errors.jsonl.
struct LineError {
  int64_t line = 0;
  std::string id;  // as found ("" when absent; the JSON text when it is not a string)
  std::string reason;
};

// In line order (stable: one line's errors keep their order).
inline void sortByLine(std::vector<LineError>& errors) {
  std::stable_sort(errors.begin(), errors.end(),
                   [](const LineError& a, const LineError& b) { return a.line < b.line; });
}

}  // namespace eleanor
