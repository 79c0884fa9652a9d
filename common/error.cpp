#include "common/error.h"

#include <fmt/format.h>

#include "common/process_identity.h"

namespace eleanor {

std::string whereAmI() {
  const auto& id = processIdentity();
  return fmt::format("rank {}/{} {}", id.rank, id.size, id.host);
}

void throwLibraryError(const char* library, const char* call, const std::string& message,
                       const char* file, int line) {
  throw InternalError(fmt::format("{} call `{}` failed at {}:{} on {}: {}", library, call, file,
                                  line, whereAmI(), message));
}

}  // namespace eleanor
