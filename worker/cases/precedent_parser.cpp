#include "worker/cases/precedent_parser.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "worker/cases/json_line.h"
#include "worker/critics/critic_rules.h"
#include "worker/retrieval/precedent_shard.h"

namespace eleanor {

std::variant<PrecedentRecord, LineError> parsePrecedentLine(std::string_view line,
                                                            int64_t lineNumber) {
  auto json = parseJsonLine(line, lineNumber);
  if (auto* error = std::get_if<LineError>(&json)) return std::move(*error);
  const nlohmann::json& parsed = std::get<nlohmann::json>(json);
  if (!parsed.is_object())
    return LineError{lineNumber, "",
                     fmt::format("expected a JSON object {{\"id\": ..., \"text\": ..., "
                                 "\"decision\": ...}}, got {}",
                                 parsed.type_name())};

  // A required string field, or the reason the line is refused.
  std::string id;
  const auto field = [&](const char* name, std::string& value) -> std::string {
    const auto it = parsed.find(name);
    if (it == parsed.end()) return fmt::format("missing required field \"{}\"", name);
    if (!it->is_string())
      return fmt::format("field \"{}\" must be a string, got {}", name, it->type_name());
    value = it->get<std::string>();
    return "";
  };
  if (std::string problem = field("id", id); !problem.empty()) {
    const auto given = parsed.find("id");
    return LineError{lineNumber, given == parsed.end() ? "" : given->dump(), std::move(problem)};
  }
  if (id.empty()) return LineError{lineNumber, "", "field \"id\" is empty"};
  PrecedentRecord record;
  record.line = lineNumber;
  record.id = id;
  if (std::string problem = field("text", record.text); !problem.empty())
    return LineError{lineNumber, id, std::move(problem)};

  const auto& names = decisionNames();
  const auto decision = parsed.find("decision");
  if (decision == parsed.end())
    return LineError{
        lineNumber, id,
        fmt::format("missing required field \"decision\" (one of {})", fmt::join(names, ", "))};
  if (!decision->is_string() ||
      std::find(names.begin(), names.end(), decision->get<std::string>()) == names.end())
    return LineError{lineNumber, id,
                     fmt::format("field \"decision\" must be one of {}, got {}",
                                 fmt::join(names, ", "), decision->dump())};

  nlohmann::ordered_json meta;
  meta["id"] = id;
  meta["decision"] = *decision;
  nlohmann::ordered_json severity = nlohmann::ordered_json::object();
  const auto given = parsed.find("severity");
  if (given != parsed.end() && !given->is_null()) {
    if (!given->is_object())
      return LineError{lineNumber, id,
                       fmt::format("field \"severity\" must be an object {{critic: 0..3}}, got {}",
                                   given->type_name())};
    for (const auto& [critic, value] : given->items()) {
      if (!value.is_number() || !(value.get<double>() >= 0 && value.get<double>() <= 3))
        return LineError{lineNumber, id,
                         fmt::format("severity of \"{}\" must be a number in 0..3, got {}", critic,
                                     value.dump())};
      severity[critic] = value;
      const auto& critics = knownCriticNames();
      if (record.unknownCritic.empty() &&
          std::find(critics.begin(), critics.end(), critic) == critics.end())
        record.unknownCritic = critic;
    }
  }
  meta["severity"] = std::move(severity);
  meta["text"] = record.text;
  record.metaLine =
      meta.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  return record;
}

}  // namespace eleanor
