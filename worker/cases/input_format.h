// What a JSON-lines input (cases for `run`, precedents for `index`) must not be: compressed (but
// for gzip and zstd files named *.gz / *.zst, which compressed_input.h reads and checks with this
// on their decompressed text), an archive or another binary format, UTF-16 or UTF-32 text, or one
// JSON array. Read line by line, each of these puts every line in errors.jsonl and the job
// "succeeds" with no result; so they are refused at start-up instead, with the command that
// converts the file. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eleanor {

// The error message for the file at `path` whose bytes are `data`, or nothing when `data` may be
// JSON lines. Looks at the file's first bytes and first line only (and, when that line opens an
// array, whether anything but blanks follows it). An empty file is JSON lines.
std::optional<std::string> notJsonLinesReason(std::string_view path, std::string_view data);

}  // namespace eleanor
