// Parsing one JSONL input line into a Case. Pure: no I/O, the same on every rank.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

#include "worker/cases/case.h"

namespace eleanor {

// A JSON object with string fields "id" and "text" (required), "output" (optional string) and
// "context" (optional object); other fields are ignored. Anything else gives a LineError whose
// reason says what is wrong with the line and how to fix it.
std::variant<Case, LineError> parseCaseLine(std::string_view line, int64_t lineNumber);

// True for lines holding only spaces and tabs: they are skipped, not errors.
bool isBlankLine(std::string_view line);

}  // namespace eleanor
