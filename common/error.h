// Errors: one exception type for problems a user can fix (bad config, bad file, bad launch),
// and thin check macros over library calls that throw with the call's text, file:line,
// rank/world, host and the library's own message.
#pragma once

#include <stdexcept>
#include <string>

namespace eleanor {

// A problem the user can fix. The message names the key, path, line or rank and says what to
// do; it is printed as is, without a stack of internal context.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failed call into a library (MPI, NCCL, CUDA, Hyperscan...) or a broken internal invariant.
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws InternalError: "<library> call `<call>` failed at <file>:<line> on rank r/W (host):
// <message>". The one [[noreturn]] path behind every ELEANOR_CHECK_* macro.
[[noreturn]] void throwLibraryError(const char* library, const char* call,
                                    const std::string& message, const char* file, int line);

// "rank r/W host", from the process identity set at start-up (rank 0/1 before that).
std::string whereAmI();

}  // namespace eleanor

#define ELEANOR_ASSERT(cond, msg)                                                             \
  do {                                                                                        \
    if (!(cond)) ::eleanor::throwLibraryError("invariant", #cond, (msg), __FILE__, __LINE__); \
  } while (0)
