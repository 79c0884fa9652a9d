#include "worker/embed/hashing_embedder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/text_hash.h"

namespace eleanor {
namespace {

bool isWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

// The text's tokens, lower-cased, written into `joined` one after another with \x1f (unit
// separator, which cannot occur inside a token) between them, and each token's start there: a
// bigram "a\x1fb" is then the bytes from a's start to b's end, so no token or bigram needs a
// string of its own. `starts` ends with joined.size() + 1 (where a next token would start).
void tokenize(std::string_view text, std::string& joined, std::vector<size_t>& starts) {
  joined.clear();
  starts.clear();
  bool inToken = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (isWordByte(c)) {
      if (!inToken) {
        if (!starts.empty()) joined.push_back('\x1f');
        starts.push_back(joined.size());
        inToken = true;
      }
      joined.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch);
    } else {
      inToken = false;
    }
  }
  starts.push_back(joined.size() + 1);
}

}  // namespace

HashingEmbedder::HashingEmbedder(int64_t dim, uint64_t seed, bool bigrams)
    : dim_(dim), seed_(seed), bigrams_(bigrams) {
  ELEANOR_ASSERT(dim > 0, "embedding dimension must be positive");
}

std::string HashingEmbedder::signature() const {
  return fmt::format("hashing dim={} seed={} bigrams={}", dim_, seed_, bigrams_);
}

void HashingEmbedder::embedOne(std::string_view text, std::span<float> row) const {
  // A thread's buffers, reused from text to text (the embedder runs on OpenMP's threads).
  thread_local std::string joined;
  thread_local std::vector<size_t> starts;
  thread_local std::vector<uint64_t> hashes;
  thread_local std::vector<double> sums;
  tokenize(text, joined, starts);
  const size_t tokens = starts.size() - 1;
  const std::string_view all(joined);
  // Token i is [starts[i], starts[i + 1] - 1): the separator (or the end) lies between.
  const auto span = [&](size_t first, size_t last) {
    return all.substr(starts[first], starts[last + 1] - 1 - starts[first]);
  };
  hashes.clear();
  for (size_t i = 0; i < tokens; ++i) {
    hashes.push_back(hash64(span(i, i), seed_));
    // \x1f cannot occur inside a token, so "a b" never collides with "ab".
    if (bigrams_ && i + 1 < tokens) hashes.push_back(hash64(span(i, i + 1), seed_));
  }
  std::sort(hashes.begin(), hashes.end());

  sums.assign(static_cast<size_t>(dim_), 0.0);
  for (size_t i = 0; i < hashes.size();) {
    size_t j = i;
    while (j < hashes.size() && hashes[j] == hashes[i]) ++j;
    const double tf = static_cast<double>(j - i);
    const double sign = (hashes[i] >> 63) ? -1.0 : 1.0;
    sums[hashes[i] % static_cast<uint64_t>(dim_)] += sign * (1.0 + std::log(tf));
    i = j;
  }
  double norm = 0.0;
  for (const double v : sums) norm += v * v;
  norm = std::sqrt(norm);
  for (int64_t d = 0; d < dim_; ++d)
    row[d] = norm > 0.0 ? static_cast<float>(sums[d] / norm) : 0.0f;
}

Matrix HashingEmbedder::embed(std::span<const std::string_view> texts) {
  Matrix out(static_cast<int64_t>(texts.size()), dim_);
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < out.rows; ++i) embedOne(texts[i], out.row(i));
  texts_ += static_cast<int64_t>(texts.size());
  return out;
}

}  // namespace eleanor
