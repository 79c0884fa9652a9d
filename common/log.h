// Logging: spdlog to stderr, every line tagged "[rank r/W host]". Summaries are logged by
// rank 0 only (the callers decide); this module only formats and filters by level.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace eleanor {

// (Re)configures the default logger with the current process identity and `level`
// (trace|debug|info|warn|error|off). Throws UserError for an unknown level.
void initLogging(const std::string& level = "info");

}  // namespace eleanor
