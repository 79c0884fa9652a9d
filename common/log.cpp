#include "common/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "common/error.h"
#include "common/process_identity.h"

namespace eleanor {

void initLogging(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw UserError(fmt::format(
        "logging.level '{}' is not a level: use trace, debug, info, warn, error or off", level));
  }
  auto logger = spdlog::default_logger();
  if (logger->name() != "eleanor") {
    logger = spdlog::stderr_color_mt("eleanor");
    spdlog::set_default_logger(logger);
  }
  const auto& id = processIdentity();
  logger->set_pattern(
      fmt::format("[%H:%M:%S.%e] [%^%l%$] [rank {}/{} {}] %v", id.rank, id.size, id.host));
  logger->set_level(parsed);
}

}  // namespace eleanor
