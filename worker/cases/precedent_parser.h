// Parsing one line of a precedents JSONL (the input of `eleanor-worker index`) into what the
// corpus keeps of it. Pure: no I/O, the same on every rank.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "worker/cases/case.h"

namespace eleanor {

struct PrecedentRecord {
  int64_t line = 0;
  std::string id;
  std::string text;  // what is embedded
  // Its meta.jsonl line, ending in '\n': {"id", "decision", "severity", "text"}.
  std::string metaLine;
  // The first "severity" key that names none of ELEANOR's critics (knownCriticNames(): a job
  // ignores it, so it is most likely misspelt); "" when every key names one. Kept in the meta.
  std::string unknownCritic;
};

// A JSON object with string fields "id" (non-empty), "text" and "decision" (allow,
// constrained_allow, escalate or deny), and an optional "severity" object {critic: number in
// 0..3}; other fields are ignored. Anything else gives a LineError whose reason says what is
// wrong with the line. A UTF-8 byte order mark is allowed on line 1 (json_line.h).
std::variant<PrecedentRecord, LineError> parsePrecedentLine(std::string_view line,
                                                            int64_t lineNumber);

}  // namespace eleanor
