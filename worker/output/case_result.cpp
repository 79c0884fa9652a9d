#include "worker/output/case_result.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace eleanor {

double roundForOutput(double x) {
  const double r = std::round(x * 1e6) / 1e6;
  return r == 0.0 ? 0.0 : r;
}

std::string formatResultLine(const CaseResult& result, const std::vector<std::string>& critics) {
  using Json = nlohmann::ordered_json;
  const AggregateResult& a = result.aggregate;
  Json line;
  line["id"] = result.id;
  line["decision"] = std::string(decisionName(a.decision));
  line["score"] = {{"average_severity", roundForOutput(a.averageSeverity)},
                   {"total_severity", roundForOutput(a.totalSeverity)}};
  Json criticsJson = Json::object();
  for (size_t c = 0; c < critics.size(); ++c) {
    criticsJson[critics[c]] = {{"severity", roundForOutput(result.rawSeverities[c])},
                               {"adjusted", roundForOutput(a.severities[c])},
                               {"flags", result.flags[c]}};
  }
  line["critics"] = std::move(criticsJson);
  Json precedents = Json::array();
  for (const auto& p : result.precedents) {
    precedents.push_back(
        {{"id", p.id}, {"similarity", roundForOutput(p.similarity)}, {"decision", p.decision}});
  }
  line["precedents"] = std::move(precedents);
  line["alignment"] = roundForOutput(a.alignment);
  line["uncertainty"] = roundForOutput(a.uncertainty);
  line["novel"] = a.novel;
  line["deciding_critic"] =
      a.decidingCritic >= 0 ? Json(critics[static_cast<size_t>(a.decidingCritic)]) : Json(nullptr);
  // Invalid UTF-8 cannot reach here (the parser rejects it), but never let one case abort
  // the write of the others: replace, don't throw.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string formatErrorLine(int64_t line, const std::string& id, const std::string& reason,
                            const InputLines& lines) {
  nlohmann::ordered_json json;
  const InputLines::Place place = lines.locate(line);
  if (lines.severalFiles()) json["file"] = *place.path;
  json["line"] = place.line;
  if (!id.empty()) json["id"] = id;
  json["reason"] = reason;
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace eleanor
