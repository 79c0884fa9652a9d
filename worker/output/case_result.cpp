#include "worker/output/case_result.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace eleanor {

double roundForOutput(double x) {
  const double r = std::round(x * 1e6) / 1e6;
  return r == 0.0 ? 0.0 : r;
}

namespace {

using Json = nlohmann::ordered_json;

void setString(Json& node, const std::string& value) {
  if (node.is_string()) {
    node.get_ref<std::string&>() = value;  // reuses the string's buffer
  } else {
    node = value;
  }
}

// A list of strings, reusing the nodes already there.
void setStrings(Json& node, const std::vector<std::string>& values) {
  if (!node.is_array()) node = Json::array();
  auto& items = node.get_ref<Json::array_t&>();
  items.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) setString(items[i], values[i]);
}

// One result line's tree, its keys in results.jsonl's order, built once a thread (and again
// when the critics change): a case only overwrites the values, so the tree costs no allocation
// a case (the ~60 nodes and keys of a fresh tree took most of the aggregate stage's time:
// bench_result_line). The pointers are into objects that never gain a key after building.
class ResultLineTree {
 public:
  std::string format(const CaseResult& result, const std::vector<std::string>& critics) {
    if (critics != critics_) build(critics);
    const AggregateResult& a = result.aggregate;
    setString(*id_, result.id);
    setString(*decision_, std::string(decisionName(a.decision)));
    *averageSeverity_ = roundForOutput(a.averageSeverity);
    *totalSeverity_ = roundForOutput(a.totalSeverity);
    for (size_t c = 0; c < critics.size(); ++c) {
      *severity_[c] = roundForOutput(result.rawSeverities[c]);
      *adjusted_[c] = roundForOutput(a.severities[c]);
      setStrings(*flags_[c], result.flags[c]);
    }
    auto& precedents = precedents_->get_ref<Json::array_t&>();
    precedents.resize(result.precedents.size());
    for (size_t p = 0; p < precedents.size(); ++p) {
      Json& entry = precedents[p];
      const PrecedentEvidence& evidence = result.precedents[p];
      if (!entry.is_object()) entry = {{"id", ""}, {"similarity", 0.0}, {"decision", ""}};
      const auto fields = entry.get_ref<Json::object_t&>().begin();  // id, similarity, decision
      setString(fields[0].second, evidence.id);
      fields[1].second = roundForOutput(evidence.similarity);
      setString(fields[2].second, evidence.decision);
    }
    *alignment_ = roundForOutput(a.alignment);
    *uncertainty_ = roundForOutput(a.uncertainty);
    *novel_ = a.novel;
    if (a.decidingCritic >= 0) {
      setString(*decidingCritic_, critics[static_cast<size_t>(a.decidingCritic)]);
    } else {
      *decidingCritic_ = nullptr;
    }
    // Invalid UTF-8 cannot reach here (the parser rejects it), but never let one case abort
    // the write of the others: replace, don't throw.
    return line_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

 private:
  void build(const std::vector<std::string>& critics) {
    critics_ = critics;
    line_ = Json::object();
    line_["id"] = "";
    line_["decision"] = "";
    line_["score"] = {{"average_severity", 0.0}, {"total_severity", 0.0}};
    Json criticsJson = Json::object();
    for (const std::string& name : critics)
      criticsJson[name] = {{"severity", 0.0}, {"adjusted", 0.0}, {"flags", Json::array()}};
    line_["critics"] = std::move(criticsJson);
    line_["precedents"] = Json::array();
    line_["alignment"] = 0.0;
    line_["uncertainty"] = 0.0;
    line_["novel"] = false;
    line_["deciding_critic"] = nullptr;
    id_ = &line_["id"];
    decision_ = &line_["decision"];
    averageSeverity_ = &line_["score"]["average_severity"];
    totalSeverity_ = &line_["score"]["total_severity"];
    severity_.clear();
    adjusted_.clear();
    flags_.clear();
    for (const std::string& name : critics) {
      Json& critic = line_["critics"][name];
      severity_.push_back(&critic["severity"]);
      adjusted_.push_back(&critic["adjusted"]);
      flags_.push_back(&critic["flags"]);
    }
    precedents_ = &line_["precedents"];
    alignment_ = &line_["alignment"];
    uncertainty_ = &line_["uncertainty"];
    novel_ = &line_["novel"];
    decidingCritic_ = &line_["deciding_critic"];
  }

  std::vector<std::string> critics_;
  Json line_;
  Json* id_ = nullptr;
  Json* decision_ = nullptr;
  Json* averageSeverity_ = nullptr;
  Json* totalSeverity_ = nullptr;
  std::vector<Json*> severity_, adjusted_, flags_;  // per critic
  Json* precedents_ = nullptr;
  Json* alignment_ = nullptr;
  Json* uncertainty_ = nullptr;
  Json* novel_ = nullptr;
  Json* decidingCritic_ = nullptr;
};

}  // namespace

std::string formatResultLine(const CaseResult& result, const std::vector<std::string>& critics) {
  thread_local ResultLineTree tree;  // the aggregate stage formats on OpenMP's threads
  return tree.format(result, critics);
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
