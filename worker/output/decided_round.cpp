#include "worker/output/decided_round.h"

#include <fmt/format.h>

#include <cstring>

#include "common/error.h"

namespace eleanor {
namespace {

struct Header {
  DecidedCounts counts;
  int64_t resultBytes, errorBytes;
};

}  // namespace

std::vector<std::byte> packDecidedRound(const DecidedRound& round) {
  const Header header{round.counts, static_cast<int64_t>(round.resultText.size()),
                      static_cast<int64_t>(round.errorText.size())};
  std::vector<std::byte> block(sizeof(Header) + round.resultText.size() + round.errorText.size());
  std::memcpy(block.data(), &header, sizeof(Header));
  std::byte* text = block.data() + sizeof(Header);
  if (!round.resultText.empty())
    std::memcpy(text, round.resultText.data(), round.resultText.size());
  if (!round.errorText.empty())
    std::memcpy(text + round.resultText.size(), round.errorText.data(), round.errorText.size());
  return block;
}

DecidedRound unpackDecidedRound(std::span<const std::byte> block) {
  Header header;
  if (block.size() < sizeof(Header)) {
    throw InternalError(
        fmt::format("a decided round of {} bytes is shorter than its {}-byte header", block.size(),
                    sizeof(Header)));
  }
  std::memcpy(&header, block.data(), sizeof(Header));
  if (header.resultBytes < 0 || header.errorBytes < 0 ||
      block.size() - sizeof(Header) !=
          static_cast<size_t>(header.resultBytes + header.errorBytes)) {
    throw InternalError(
        fmt::format("a decided round of {} bytes does not match its header ({} + {} bytes of text)",
                    block.size(), header.resultBytes, header.errorBytes));
  }
  DecidedRound round;
  round.counts = header.counts;
  const char* text = reinterpret_cast<const char*>(block.data()) + sizeof(Header);
  round.resultText = {text, static_cast<size_t>(header.resultBytes)};
  round.errorText = {text + header.resultBytes, static_cast<size_t>(header.errorBytes)};
  return round;
}

}  // namespace eleanor
