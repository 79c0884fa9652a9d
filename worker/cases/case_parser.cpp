#include "worker/cases/case_parser.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "worker/cases/json_line.h"

namespace eleanor {

bool isBlankLine(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::variant<Case, LineError> parseCaseLine(std::string_view line, int64_t lineNumber) {
  auto json = parseJsonLine(line, lineNumber);
  if (auto* error = std::get_if<LineError>(&json)) return std::move(*error);
  const nlohmann::json& parsed = std::get<nlohmann::json>(json);
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
