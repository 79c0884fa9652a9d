// What every JSONL input line (cases, precedents) goes through before its own schema: a UTF-8
// byte order mark (the file's first line may carry one, which is removed; on a later line it is
// an error), a raw NUL byte (an error: the JSON library would stop reading there), then the
// JSON itself, with the library's description of where it breaks. Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "worker/cases/case.h"

namespace eleanor {

// The line's JSON value (any type), or a LineError (without id) saying what is wrong.
std::variant<nlohmann::json, LineError> parseJsonLine(std::string_view line, int64_t lineNumber);

}  // namespace eleanor
