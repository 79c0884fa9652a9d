#include "worker/cases/json_line.h"

#include <fmt/format.h>

namespace eleanor {

std::variant<nlohmann::json, LineError> parseJsonLine(std::string_view line, int64_t lineNumber) {
  // A UTF-8 byte order mark on the first line is an editor's artefact, not content. On a later
  // line it means files were concatenated with their marks, which the user should know.
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (line.substr(0, 3) == kByteOrderMark) {
    if (lineNumber != 1)
      return LineError{lineNumber, "",
                       "the line starts with a UTF-8 byte order mark, which only the file's first "
                       "line may have (were files concatenated?); remove it"};
    line.remove_prefix(3);
    if (line.substr(0, 3) == kByteOrderMark)
      return LineError{lineNumber, "", "the line starts with two UTF-8 byte order marks"};
  }
  // nlohmann's lexer reads a NUL byte as the end of the input, so `{"id": "c1"}<NUL>anything`
  // would parse and silently drop the rest. JSON text never holds a raw NUL: refuse the line.
  if (const size_t nul = line.find('\0'); nul != std::string_view::npos)
    return LineError{lineNumber, "",
                     fmt::format("holds a NUL byte at byte {} of the line, which JSON text never "
                                 "does (a binary file, UTF-16 text or a damaged write?)",
                                 nul + 1)};
  nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded()) return parsed;
  // Parse again with exceptions for the library's description of where the JSON breaks.
  std::string detail;
  try {
    const nlohmann::json ignored = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    detail = e.what();
    // Drop the library's tag, e.g. "[json.exception.parse_error.101] ".
    const size_t tagEnd = detail.find("] ");
    if (detail.rfind("[json.exception.", 0) == 0 && tagEnd != std::string::npos)
      detail = detail.substr(tagEnd + 2);
  }
  return LineError{lineNumber, "", "malformed JSON: " + detail};
}

}  // namespace eleanor
