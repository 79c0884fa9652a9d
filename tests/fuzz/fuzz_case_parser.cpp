// libFuzzer target: one JSONL line through parseCaseLine (the cases) and parsePrecedentLine
// (the precedents `index` reads), as the first line (where a UTF-8 byte order mark is allowed)
// and as a later one, then through the errors.jsonl formatter when it is rejected. Contract
// (case_parser.h, precedent_parser.h): never throws; a case or precedent has a non-empty id and
// its own line number; a precedent's meta line is one line of valid JSON; a rejected line has a
// reason, and its errors.jsonl line is valid JSON. The same bytes as a whole file go through
// notJsonLinesReason (input_format.h), which must never refuse a file whose first line is a
// valid case or precedent. Any exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "tests/fuzz/fuzz_support.h"
#include "worker/cases/case_parser.h"
#include "worker/cases/input_format.h"
#include "worker/cases/precedent_parser.h"
#include "worker/output/case_result.h"

namespace {

void checkRejected(const eleanor::LineError& error, int64_t lineNumber) {
  using eleanor::fuzz::violated;
  if (error.line != lineNumber) violated("error carries another line number");
  if (error.reason.empty()) violated("error without a reason");
  const std::string errorLine = eleanor::formatErrorLine(error.line, error.id, error.reason);
  const auto json = nlohmann::json::parse(errorLine, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || json["line"] != lineNumber)
    violated("errors.jsonl line is not valid JSON", errorLine);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using eleanor::fuzz::violated;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto refusal = eleanor::notJsonLinesReason("input.jsonl", line);
  if (refusal && refusal->empty()) violated("file refused without a reason");
  for (const int64_t lineNumber : {int64_t{1}, int64_t{2}}) {
    const auto parsed = eleanor::parseCaseLine(line, lineNumber);
    if (const auto* item = std::get_if<eleanor::Case>(&parsed)) {
      if (lineNumber == 1 && refusal) violated("a file of one valid case refused", *refusal);
      if (item->line != lineNumber) violated("case carries another line number");
      if (item->id.empty()) violated("case accepted with an empty id");
      if (!item->contextJson.empty() && !nlohmann::json::accept(item->contextJson))
        violated("context is not valid JSON", item->contextJson);
    } else {
      checkRejected(std::get<eleanor::LineError>(parsed), lineNumber);
    }
    const auto precedent = eleanor::parsePrecedentLine(line, lineNumber);
    if (const auto* item = std::get_if<eleanor::PrecedentRecord>(&precedent)) {
      if (lineNumber == 1 && refusal) violated("a file of one valid precedent refused", *refusal);
      if (item->line != lineNumber) violated("precedent carries another line number");
      if (item->id.empty()) violated("precedent accepted with an empty id");
      const std::string_view meta = item->metaLine;
      if (meta.empty() || meta.find('\n') != meta.size() - 1)
        violated("meta line is not one line", item->metaLine);
      if (!nlohmann::json::accept(meta.substr(0, meta.size() - 1)))
        violated("meta line is not valid JSON", item->metaLine);
    } else {
      checkRejected(std::get<eleanor::LineError>(precedent), lineNumber);
    }
  }
  (void)eleanor::isBlankLine(line);
  return 0;
}
