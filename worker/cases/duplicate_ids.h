// Duplicate case ids across the whole input. Every rank hashes the ids of its own lines; rank 0
// finds, in input order, each id used before; each rank gets back its lines that repeat one.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/communicator.h"
#include "worker/cases/case_reader.h"

namespace eleanor {

struct DuplicateIds {
  std::unordered_map<int64_t, int64_t> laterLines;  // this rank's repeating line -> first line
  int64_t total = 0;                                // in the whole input
  int64_t exampleLine = 0;                          // one repeat and its first use, for messages
  int64_t exampleFirst = 0;
};

// Collective: every rank must call, after reader.numberLines().
DuplicateIds findDuplicateIds(const CaseReader& reader, Communicator& comm);

}  // namespace eleanor
