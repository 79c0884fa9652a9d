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

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (isWordByte(c)) {
      current.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch);
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
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
  const std::vector<std::string> tokens = tokenize(text);
  std::vector<uint64_t> hashes;
  hashes.reserve(tokens.size() * 2);
  for (size_t i = 0; i < tokens.size(); ++i) {
    hashes.push_back(hash64(tokens[i], seed_));
    if (bigrams_ && i + 1 < tokens.size()) {
      // \x1f (unit separator) cannot occur inside a token, so "a b" never collides with "ab".
      hashes.push_back(hash64(tokens[i] + '\x1f' + tokens[i + 1], seed_));
    }
  }
  std::sort(hashes.begin(), hashes.end());

  std::vector<double> sums(static_cast<size_t>(dim_), 0.0);
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
