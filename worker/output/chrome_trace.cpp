#include "worker/output/chrome_trace.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"

namespace eleanor {

std::string writeChromeTrace(Communicator& comm, const std::vector<StageClock::Span>& spans,
                             const std::string& rankLabel, const std::string& folder) {
  // Each rank's events as one JSON array; rank 0 splices them.
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", comm.rank()},
                    {"args", {{"name", rankLabel}}}});
  for (const auto& span : spans) {
    events.push_back({{"name", std::string(kStageNames[static_cast<size_t>(span.stage)])},
                      {"ph", "X"},
                      {"pid", comm.rank()},
                      {"tid", 0},
                      {"ts", span.startMicros},
                      {"dur", span.micros}});
  }
  const std::vector<std::string> all = gatherStrings(comm, events.dump(), 0);
  if (comm.rank() != 0) return "";
  nlohmann::json trace;
  trace["displayTimeUnit"] = "ms";
  trace["traceEvents"] = nlohmann::json::array();
  for (const auto& part : all) {
    for (auto& event : nlohmann::json::parse(part))
      trace["traceEvents"].push_back(std::move(event));
  }
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) {
    spdlog::warn("no trace written: cannot create gpu.monitoring.profile_dir '{}': {}", folder,
                 error.message());
    return "";
  }
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &utc);
  const std::string path = fmt::format("{}/eleanor-trace-{}.json", folder, stamp);
  try {
    writeFileAtomically(path, trace.dump());
  } catch (const UserError& e) {
    spdlog::warn("no trace written: {}", e.what());
    return "";
  }
  return path;
}

}  // namespace eleanor
