// Who this process is in the job: rank, world size, local rank and host. Set once after the
// communicator comes up; read by logging and error messages.
#pragma once

#include <string>

namespace eleanor {

struct ProcessIdentity {
  int rank = 0;
  int size = 1;
  int localRank = 0;
  int localSize = 1;
  std::string host;
};

const ProcessIdentity& processIdentity();
void setProcessIdentity(ProcessIdentity identity);

// This machine's host name (gethostname), "unknown" when it cannot be read.
std::string hostName();

}  // namespace eleanor
