#include "worker/cases/case_parser.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace eleanor {

bool isBlankLine(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::variant<Case, LineError> parseCaseLine(std::string_view line, int64_t lineNumber) {
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

  const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
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
  if (!parsed.is_object())
    return LineError{lineNumber, "",
                     fmt::format("expected a JSON object {{\"id\": ..., \"text\": ...}}, got {}",
                                 parsed.type_name())};

  Case result;
  result.line = lineNumber;
  const auto id = parsed.find("id");
  if (id == parsed.end()) return LineError{lineNumber, "", "missing required field \"id\""};
  if (!id->is_string())
    return LineError{lineNumber, id->dump(),
                     fmt::format("field \"id\" must be a string, got {}", id->type_name())};
  result.id = id->get<std::string>();
  if (result.id.empty()) return LineError{lineNumber, "", "field \"id\" is empty"};

  const auto text = parsed.find("text");
  if (text == parsed.end())
    return LineError{lineNumber, result.id, "missing required field \"text\""};
  if (!text->is_string())
    return LineError{lineNumber, result.id,
                     fmt::format("field \"text\" must be a string, got {}", text->type_name())};
  result.text = text->get<std::string>();

  const auto output = parsed.find("output");
  if (output != parsed.end() && !output->is_null()) {
    if (!output->is_string())
      return LineError{
          lineNumber, result.id,
          fmt::format("field \"output\" must be a string, got {}", output->type_name())};
    result.output = output->get<std::string>();
  }
  const auto context = parsed.find("context");
  if (context != parsed.end() && !context->is_null()) {
    if (!context->is_object())
      return LineError{
          lineNumber, result.id,
          fmt::format("field \"context\" must be an object, got {}", context->type_name())};
    result.contextJson = context->dump();
  }
  return result;
}

}  // namespace eleanor
