// parseCaseLine: a table of input lines and the Case or the LineError (id and reason) each
// must give; invalid UTF-8 and byte order marks; isBlankLine.
#include "worker/cases/case_parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace eleanor {
namespace {

struct Accepted {
  std::string line;
  std::string id;
  std::string text;
  std::string output;
  std::string contextJson;
};

TEST(CaseParser, AcceptedLines) {
  const std::vector<Accepted> table = {
      {R"({"id": "c1", "text": "hello"})", "c1", "hello", "", ""},
      {R"({"id":"c2","text":"t","output":"o"})", "c2", "t", "o", ""},
      {R"({"id": "c3", "text": "t", "output": null})", "c3", "t", "", ""},
      {R"({"id": "c4", "text": "", "output": ""})", "c4", "", "", ""},
      {R"({"id": "c5", "text": "t", "context": {"b": 1, "a": [true, null]}})", "c5", "t", "",
       R"({"a":[true,null],"b":1})"},
      {R"({"id": "c6", "text": "t", "context": null})", "c6", "t", "", ""},
      {R"({"id": "c7", "text": "t", "context": {}})", "c7", "t", "", "{}"},
      {R"(  {"text": "t", "extra": [1, 2], "id": "c8", "score": 0.5}  )", "c8", "t", "", ""},
      {R"({"id": "\u00e9\u4e2d", "text": "caf\u00e9 \ud83d\ude00 line\nbreak"})",
       "\xC3\xA9\xE4\xB8\xAD", "caf\xC3\xA9 \xF0\x9F\x98\x80 line\nbreak", "", ""},
      {"{\"id\": \"c10\", \"text\": \"raw \xC3\xA9 utf-8\"}", "c10", "raw \xC3\xA9 utf-8", "", ""},
      {"{\"id\": \"c11\", \"text\": \"t\"}\r", "c11", "t", "", ""},
  };
  for (const Accepted& row : table) {
    const auto parsed = parseCaseLine(row.line, 42);
    ASSERT_TRUE(std::holds_alternative<Case>(parsed))
        << row.line << " -> " << std::get<LineError>(parsed).reason;
    const Case& c = std::get<Case>(parsed);
    EXPECT_EQ(c.line, 42) << row.line;
    EXPECT_EQ(c.id, row.id) << row.line;
    EXPECT_EQ(c.text, row.text) << row.line;
    EXPECT_EQ(c.output, row.output) << row.line;
    EXPECT_EQ(c.contextJson, row.contextJson) << row.line;
  }
}

// The id of a LineError for a non-string id is not specified (the header says "" when the id
// could not be read; the parser gives the id's JSON text): kAnyId skips that check.
const std::string kAnyId = "<any>";

struct Rejected {
  std::string line;
  std::string id;      // expected LineError id, or kAnyId
  std::string reason;  // expected reason (whole), or its start when `prefix`
  bool prefix = false;
};

TEST(CaseParser, RejectedLinesSayWhatIsWrong) {
  const std::vector<Rejected> table = {
      {R"({"text": "t"})", "", "missing required field \"id\""},
      {R"({"id": 42, "text": "t"})", kAnyId, "field \"id\" must be a string, got number"},
      {R"({"id": null, "text": "t"})", kAnyId, "field \"id\" must be a string, got null"},
      {R"({"id": ["a"], "text": "t"})", kAnyId, "field \"id\" must be a string, got array"},
      {R"({"id": "", "text": "t"})", "", "field \"id\" is empty"},
      {R"({"id": "c1"})", "c1", "missing required field \"text\""},
      {R"({"id": "c1", "text": 5})", "c1", "field \"text\" must be a string, got number"},
      {R"({"id": "c1", "text": null})", "c1", "field \"text\" must be a string, got null"},
      {R"({"id": "c1", "text": {"a": 1}})", "c1", "field \"text\" must be a string, got object"},
      {R"({"id": "c1", "text": "t", "output": 3})", "c1",
       "field \"output\" must be a string, got number"},
      {R"({"id": "c1", "text": "t", "output": ["a"]})", "c1",
       "field \"output\" must be a string, got array"},
      {R"({"id": "c1", "text": "t", "output": false})", "c1",
       "field \"output\" must be a string, got boolean"},
      {R"({"id": "c1", "text": "t", "context": "x"})", "c1",
       "field \"context\" must be an object, got string"},
      {R"({"id": "c1", "text": "t", "context": [1]})", "c1",
       "field \"context\" must be an object, got array"},
      {R"(["c1", "t"])", "", "expected a JSON object {\"id\": ..., \"text\": ...}, got array"},
      {R"("just a string")", "", "expected a JSON object {\"id\": ..., \"text\": ...}, got string"},
      {"17", "", "expected a JSON object {\"id\": ..., \"text\": ...}, got number"},
      {"null", "", "expected a JSON object {\"id\": ..., \"text\": ...}, got null"},
      {R"({"id": "c1", "text": "t")", "", "malformed JSON", true},
      {R"({"id": "c1", "text": "t"} trailing)", "", "malformed JSON", true},
      {R"({"id": "c1" "text": "t"})", "", "malformed JSON", true},
      {R"({'id': 'c1', 'text': 't'})", "", "malformed JSON", true},
      {"", "", "malformed JSON", true},
      {R"({"id": "c1", "text": "\ud800"})", "", "malformed JSON", true},  // lone surrogate
      // A number beyond double: the library throws out_of_range, not parse_error (found by
      // tests/fuzz/fuzz_case_parser; it escaped parseCaseLine).
      {R"({"id": "c1", "text": "t", "score": 1e999})", "", "malformed JSON", true},
      {R"({"id": "c1", "text": "t", "output": -1.5e3001})", "", "malformed JSON", true},
  };
  for (const Rejected& row : table) {
    const auto parsed = parseCaseLine(row.line, 7);
    ASSERT_TRUE(std::holds_alternative<LineError>(parsed)) << row.line << " was accepted";
    const LineError& e = std::get<LineError>(parsed);
    EXPECT_EQ(e.line, 7) << row.line;
    if (row.id != kAnyId) {
      EXPECT_EQ(e.id, row.id) << row.line;
    }
    if (row.prefix) {
      EXPECT_EQ(e.reason.rfind(row.reason + ": ", 0), 0u) << row.line << " -> " << e.reason;
      EXPECT_EQ(e.reason.find("[json.exception"), std::string::npos)
          << "the library's exception tag should be stripped: " << e.reason;
    } else {
      EXPECT_EQ(e.reason, row.reason) << row.line;
    }
  }
}

TEST(CaseParser, MalformedJsonSaysWhereItBreaks) {
  const auto parsed = parseCaseLine(R"({"id": "c1", "text": "t",})", 3);
  const LineError& e = std::get<LineError>(parsed);
  EXPECT_NE(e.reason.find("column"), std::string::npos) << e.reason;
}

TEST(CaseParser, InvalidUtf8InsideAStringIsAnErrorNotACrash) {
  const std::vector<std::string> badBytes = {
      "\xFF",         "\xC3",
      "\xC3\x28",     "\xE2\x82",
      "\xED\xA0\x80",  // surrogate
      "\xC0\xAF",     "\xF8\x88\x80\x80\x80",
      "\x80",         "\xF4\x90\x80\x80",
  };
  for (const std::string& bytes : badBytes) {
    for (const std::string& line :
         {"{\"id\": \"c1\", \"text\": \"a" + bytes + "b\"}",
          "{\"id\": \"c" + bytes + "\", \"text\": \"t\"}",
          "{\"id\": \"c1\", \"text\": \"t\", \"context\": {\"k" + bytes + "\": 1}}"}) {
      const auto parsed = parseCaseLine(line, 2);
      ASSERT_TRUE(std::holds_alternative<LineError>(parsed)) << "accepted invalid UTF-8: " << line;
      const LineError& e = std::get<LineError>(parsed);
      EXPECT_EQ(e.reason.rfind("malformed JSON: ", 0), 0u) << e.reason;
    }
  }
  // The parser still works afterwards.
  EXPECT_TRUE(std::holds_alternative<Case>(parseCaseLine(R"({"id": "a", "text": "b"})", 3)));
}

TEST(CaseParser, ByteOrderMarkOnlyOnTheFirstLine) {
  const std::string bom = "\xEF\xBB\xBF";
  const std::string line = bom + R"({"id": "c1", "text": "t"})";
  const auto first = parseCaseLine(line, 1);
  ASSERT_TRUE(std::holds_alternative<Case>(first)) << std::get<LineError>(first).reason;
  EXPECT_EQ(std::get<Case>(first).id, "c1");
  EXPECT_EQ(std::get<Case>(first).line, 1);
}

// A BOM in the middle of a file is not an editor's artefact (files were concatenated): an error
// that says so.
TEST(CaseParser, ByteOrderMarkOnALaterLineIsAnError) {
  const std::string bom = "\xEF\xBB\xBF";
  const std::string line = bom + R"({"id": "c1", "text": "t"})";
  for (const int64_t lineNumber : {2, 100}) {
    const auto later = parseCaseLine(line, lineNumber);
    ASSERT_TRUE(std::holds_alternative<LineError>(later))
        << "line " << lineNumber << " with a BOM was accepted";
    EXPECT_NE(std::get<LineError>(later).reason.find("byte order mark"), std::string::npos)
        << std::get<LineError>(later).reason;
  }
  // Two BOMs on line 1: only the first is the editor's.
  EXPECT_TRUE(std::holds_alternative<LineError>(parseCaseLine(bom + line, 1)));
}

// The JSON library reads a NUL byte as the end of its input: a line with one must be refused,
// not parsed up to the NUL with the rest dropped.
TEST(CaseParser, NulByteIsAnErrorNotTheEndOfTheLine) {
  const std::string valid = R"({"id": "c1", "text": "t"})";
  for (const std::string& line :
       {valid + std::string(1, '\0'), valid + "\r" + std::string(30, '\0'),
        valid + std::string(1, '\0') + R"({"id": "c2", "text": "u"})",
        R"({"id": "c1", "text": "a)" + std::string(1, '\0') + R"(b"})"}) {
    const auto parsed = parseCaseLine(line, 4);
    ASSERT_TRUE(std::holds_alternative<LineError>(parsed))
        << "a line with a NUL byte was accepted, " << line.size() << " bytes";
    const LineError& e = std::get<LineError>(parsed);
    EXPECT_EQ(e.line, 4);
    EXPECT_NE(e.reason.find("NUL byte at byte " + std::to_string(line.find('\0') + 1)),
              std::string::npos)
        << e.reason;
  }
}

TEST(CaseParser, RandomBytesNeverThrow) {
  constexpr uint64_t kSeed = 99;
  std::mt19937_64 rng(kSeed);
  const std::string base = R"({"id": "c1", "text": "hello", "output": "x", "context": {"a": 1}})";
  for (int trial = 0; trial < 3000; ++trial) {
    std::string line = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) line[rng() % line.size()] = static_cast<char>(rng() & 0xff);
    EXPECT_NO_THROW({
      const auto parsed = parseCaseLine(line, 1 + static_cast<int64_t>(trial % 3));
      if (const auto* error = std::get_if<LineError>(&parsed)) {
        EXPECT_FALSE(error->reason.empty());
      }
    }) << "seed="
       << kSeed << " trial=" << trial;
  }
}

TEST(CaseParser, IsBlankLine) {
  EXPECT_TRUE(isBlankLine(""));
  EXPECT_TRUE(isBlankLine(" "));
  EXPECT_TRUE(isBlankLine("\t \t"));
  EXPECT_FALSE(isBlankLine("x"));
  EXPECT_FALSE(isBlankLine("  {}"));
  EXPECT_FALSE(isBlankLine("\r")) << "a lone CR is not in the blank set (the reader strips CRLF)";
  EXPECT_FALSE(isBlankLine(std::string_view("\0", 1)));
  EXPECT_FALSE(isBlankLine("\xEF\xBB\xBF"));
}

}  // namespace
}  // namespace eleanor
