#include "common/agreement.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "common/process_identity.h"

namespace eleanor {

void runAgreed(Communicator& comm, const std::string& stage, const std::function<void()>& work) {
  comm.setStage(stage);
  int64_t code = 0;
  bool consequence = false;
  std::string message;
  try {
    work();
  } catch (const JobFailure&) {
    throw;  // already agreed by a nested stage
  } catch (const PeerFailure& e) {
    code = 1;
    consequence = true;
    message = e.what();
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

  // Someone failed: share the messages so every rank can name the first failing rank whose
  // failure is its own (record: "code\nconsequence\nhost\nmessage").
  const std::string record = code ? fmt::format("{}\n{}\n{}\n{}", code, consequence ? 1 : 0,
                                                processIdentity().host, message)
                                  : std::string();
  std::vector<std::byte> bytes;
  std::vector<size_t> counts;
  comm.allGatherV(record.data(), record.size(), bytes, counts);
  std::string firstMessage;
  bool firstIsConsequence = true;
  std::vector<int> failed;
  size_t offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const std::string text(reinterpret_cast<const char*>(bytes.data()) + offset, counts[r]);
    offset += counts[r];
    if (text.empty()) continue;
    failed.push_back(r);
    const size_t first = text.find('\n');
    const size_t second = text.find('\n', first + 1);
    const size_t third = text.find('\n', second + 1);
    const bool isConsequence = text.substr(first + 1, second - first - 1) == "1";
    if (!firstMessage.empty() && (isConsequence || !firstIsConsequence)) continue;
    const std::string host = text.substr(second + 1, third - second - 1);
    const std::string what = text.substr(third + 1);
    firstMessage = comm.size() > 1 ? fmt::format("rank {}/{} ({}) failed in stage '{}': {}", r,
                                                 comm.size(), host, stage, what)
                                   : what;
    firstIsConsequence = isConsequence;
  }
  if (failed.size() > 1) {
    firstMessage += fmt::format(" [{} of {} ranks failed this stage: {}]", failed.size(),
                                comm.size(), fmt::join(failed, ", "));
  }
  throw JobFailure(firstMessage, static_cast<int>(worst));
}

}  // namespace eleanor
