#include "common/agreement.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "common/process_identity.h"

namespace eleanor {

void runAgreed(Communicator& comm, const std::string& stage, const std::function<void()>& work) {
  comm.setStage(stage);
  int64_t code = 0;
  std::string message;
  try {
    work();
  } catch (const JobFailure&) {
    throw;  // already agreed by a nested stage
  } catch (const UserError& e) {
    code = 2;
    message = e.what();
  } catch (const std::exception& e) {
    code = 1;
    message = e.what();
  }
  int64_t worst = code;
  comm.allReduceMax(std::span<int64_t>(&worst, 1));
  if (worst == 0) return;

  // Someone failed: share the messages so every rank can name the first failing rank.
  const std::string record =
      code ? fmt::format("{}\n{}\n{}", code, processIdentity().host, message) : std::string();
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.allGatherV(record.data(), record.size(), bytes, counts);
  std::string firstMessage;
  std::vector<int> failed;
  size_t offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const std::string text(reinterpret_cast<const char*>(bytes.data()) + offset, counts[r]);
    offset += counts[r];
    if (text.empty()) continue;
    failed.push_back(r);
    if (failed.size() == 1) {
      const size_t first = text.find('\n');
      const size_t second = text.find('\n', first + 1);
      const std::string host = text.substr(first + 1, second - first - 1);
      const std::string what = text.substr(second + 1);
      firstMessage = comm.size() > 1 ? fmt::format("rank {}/{} ({}) failed in stage '{}': {}", r,
                                                   comm.size(), host, stage, what)
                                     : what;
    }
  }
  if (failed.size() > 1) {
    firstMessage += fmt::format(" [{} of {} ranks failed this stage: {}]", failed.size(),
                                comm.size(), fmt::join(failed, ", "));
  }
  throw JobFailure(firstMessage, static_cast<int>(worst));
}

}  // namespace eleanor
