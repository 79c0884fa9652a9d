#include "common/process_identity.h"

#include <unistd.h>

#include <array>

namespace eleanor {
namespace {
ProcessIdentity& mutableIdentity() {
  static ProcessIdentity identity{0, 1, 0, 1, hostName()};
  return identity;
}
}  // namespace

const ProcessIdentity& processIdentity() {
  return mutableIdentity();
}

void setProcessIdentity(ProcessIdentity identity) {
  mutableIdentity() = std::move(identity);
}

std::string hostName() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0) return "unknown";
  return buffer.data();
}

}  // namespace eleanor
