// CaseResult: everything results.jsonl says about one case, and its JSON line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/aggregate/aggregator.h"
#include "worker/cases/input_lines.h"

namespace eleanor {

struct PrecedentEvidence {
  std::string id;
  double similarity = 0.0;
  std::string decision;
};

struct CaseResult {
  std::string id;
  AggregateResult aggregate;
  std::vector<double> rawSeverities;            // per critic, as the critics said
  std::vector<std::vector<std::string>> flags;  // per critic
  std::vector<PrecedentEvidence> precedents;    // merged top-k, best first
};

// One line of results.jsonl (no trailing newline). Keys in a fixed order: id, decision, score,
// critics, precedents, alignment, uncertainty, novel, deciding_critic. Numbers are rounded to
// 6 decimals so the text is stable and readable.
std::string formatResultLine(const CaseResult& result, const std::vector<std::string>& critics);

// One line of errors.jsonl: {"line": N, "id": "..." (when known), "reason": "..."}. `line` is
// the input's line number; where the input has several files (`lines`), the line starts with
// "file": "..." and "line" is that file's.
std::string formatErrorLine(int64_t line, const std::string& id, const std::string& reason,
                            const InputLines& lines = {});

// x rounded to 6 decimals (and -0 made 0), the precision of every number we write.
double roundForOutput(double x);

}  // namespace eleanor
