// HashingEmbedder against a straightforward reference written from the header's contract
// (tokens, XXH3 buckets and signs, 1 + ln tf, double sums, L2 norm) on seeded random texts;
// unit rows, determinism and batch independence; CachingEmbedder against an LRU model:
// hits, misses, evictions, the texts that reach the inner embedder, and identical rows.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "worker/embed/embedding_cache.h"
#include "worker/embed/hashing_embedder.h"

namespace eleanor {
namespace {

constexpr double kReferenceTolerance = 1e-6;  // reference in double vs rows rounded to float
constexpr double kUnitTolerance = 1e-5;       // |row| of float components vs 1
constexpr uint64_t kSeed = 1234567;

// ---- the reference ----

bool wordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

std::vector<std::string> referenceTokens(std::string_view text) {
  std::vector<std::string> tokens(1);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (wordByte(c)) {
      tokens.back().push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
    } else if (!tokens.back().empty()) {
      tokens.emplace_back();
    }
  }
  if (tokens.back().empty()) tokens.pop_back();
  return tokens;
}

// Features by their text, counted; then bucketed. A bigram is "left\x1fright" (the separator the
// implementation documents in its .cpp; the header does not say).
std::vector<double> referenceEmbedding(std::string_view text, int64_t dim, uint64_t seed,
                                       bool bigrams) {
  const std::vector<std::string> tokens = referenceTokens(text);
  std::map<std::string, int> tf;
  for (size_t i = 0; i < tokens.size(); ++i) {
    ++tf[tokens[i]];
    if (bigrams && i + 1 < tokens.size()) ++tf[tokens[i] + '\x1f' + tokens[i + 1]];
  }
  std::vector<double> sums(static_cast<size_t>(dim), 0.0);
  for (const auto& [feature, count] : tf) {
    const uint64_t h = XXH3_64bits_withSeed(feature.data(), feature.size(), seed);
    const double sign = (h >> 63) ? -1.0 : 1.0;
    sums[h % static_cast<uint64_t>(dim)] += sign * (1.0 + std::log(static_cast<double>(count)));
  }
  double norm = 0.0;
  for (const double v : sums) norm += v * v;
  norm = std::sqrt(norm);
  if (norm > 0.0) {
    for (double& v : sums) v /= norm;
  }
  return sums;
}

std::string randomText(std::mt19937_64& rng) {
  static const std::vector<std::string> words = {"the",
                                                 "The",
                                                 "THE",
                                                 "model",
                                                 "Model",
                                                 "deny",
                                                 "allow",
                                                 "a",
                                                 "b",
                                                 "x1",
                                                 "42",
                                                 "caf\xC3\xA9",
                                                 "\xE4\xB8\xAD\xE6\x96\x87",
                                                 "na\xC3\xAFve",
                                                 "e-mail",
                                                 "don't",
                                                 "ssn",
                                                 "123-45-6789"};
  static const std::vector<std::string> gaps = {" ",    "  ", ", ", ".\n", "\t", "!? ",
                                                "\r\n", "_",  "--", " (",  ") "};
  std::string text;
  const int count = static_cast<int>(rng() % 30);
  for (int i = 0; i < count; ++i) {
    text += words[rng() % words.size()];
    text += gaps[rng() % gaps.size()];
  }
  return text;
}

double rowNorm(std::span<const float> row) {
  double sum = 0.0;
  for (const float v : row) sum += static_cast<double>(v) * v;
  return std::sqrt(sum);
}

bool bitIdentical(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
  }
  return true;
}

std::vector<float> embedOne(HashingEmbedder& embedder, std::string_view text) {
  const std::string_view texts[] = {text};
  const Matrix m = embedder.embed(texts);
  return m.values;
}

// ---- HashingEmbedder ----

TEST(HashingEmbedder, MatchesTheReferenceOnRandomTexts) {
  std::mt19937_64 rng(kSeed);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t dim = std::vector<int64_t>{1, 2, 7, 64, 384, 1000}[rng() % 6];
    const uint64_t seed = rng() % 3 == 0 ? 0 : rng();
    const bool bigrams = rng() % 2 == 0;
    const std::string text = randomText(rng);
    const std::string params =
        fmt::format("seed={} trial={} dim={} hashSeed={} bigrams={} text='{}'", kSeed, trial, dim,
                    seed, bigrams, text);
    HashingEmbedder embedder(dim, seed, bigrams);
    const std::vector<float> row = embedOne(embedder, text);
    const std::vector<double> expected = referenceEmbedding(text, dim, seed, bigrams);
    ASSERT_EQ(row.size(), expected.size()) << params;
    for (int64_t d = 0; d < dim; ++d)
      ASSERT_NEAR(row[d], expected[d], kReferenceTolerance) << params << " column " << d;
    // Unit length, or zero: with no tokens, or (tiny dim) when opposite signs cancel exactly.
    const double norm = rowNorm(row);
    const bool zero =
        std::all_of(expected.begin(), expected.end(), [](double v) { return v == 0; });
    if (referenceTokens(text).empty()) {
      EXPECT_TRUE(zero) << params;
    }
    if (zero) {
      EXPECT_EQ(norm, 0.0) << params;
    } else {
      EXPECT_NEAR(norm, 1.0, kUnitTolerance) << params;
    }
  }
}

// The embedder's arithmetic is fixed (a corpus embedded by one build is searched with cases
// embedded by the next): the same features' hashes, summed in ascending order of hash, give the
// same bits as a plain implementation with a string a feature.
TEST(HashingEmbedder, BitsEqualAPlainSumInHashOrder) {
  std::mt19937_64 rng(kSeed + 2);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t dim = std::vector<int64_t>{1, 7, 384, 1000}[rng() % 4];
    const uint64_t seed = rng() % 3 == 0 ? 0 : rng();
    const bool bigrams = rng() % 2 == 0;
    const std::string text = randomText(rng);
    const std::vector<std::string> tokens = referenceTokens(text);
    std::vector<uint64_t> hashes;
    for (size_t i = 0; i < tokens.size(); ++i) {
      hashes.push_back(XXH3_64bits_withSeed(tokens[i].data(), tokens[i].size(), seed));
      if (bigrams && i + 1 < tokens.size()) {
        const std::string bigram = tokens[i] + '\x1f' + tokens[i + 1];
        hashes.push_back(XXH3_64bits_withSeed(bigram.data(), bigram.size(), seed));
      }
    }
    std::sort(hashes.begin(), hashes.end());
    std::vector<double> sums(static_cast<size_t>(dim), 0.0);
    for (size_t i = 0, j = 0; i < hashes.size(); i = j) {
      while (j < hashes.size() && hashes[j] == hashes[i]) ++j;
      sums[hashes[i] % static_cast<uint64_t>(dim)] +=
          ((hashes[i] >> 63) ? -1.0 : 1.0) * (1.0 + std::log(static_cast<double>(j - i)));
    }
    double norm = 0.0;
    for (const double v : sums) norm += v * v;
    norm = std::sqrt(norm);
    std::vector<float> expected;
    for (const double v : sums) expected.push_back(norm > 0.0 ? static_cast<float>(v / norm) : 0.f);
    HashingEmbedder embedder(dim, seed, bigrams);
    ASSERT_TRUE(bitIdentical(embedOne(embedder, text), expected))
        << "seed=" << kSeed + 2 << " trial=" << trial << " text='" << text << "'";
  }
}

TEST(HashingEmbedder, TextsWithoutWordCharactersGiveZeroRows) {
  HashingEmbedder embedder(64, 0, true);
  for (const std::string text : {"", " ", ",.;!?", "\n\t\r", "___ --- ***", "\x1f\x7f"}) {
    const std::vector<float> row = embedOne(embedder, text);
    EXPECT_TRUE(std::all_of(row.begin(), row.end(), [](float v) { return v == 0.0f; }))
        << "'" << text << "'";
  }
  EXPECT_NEAR(rowNorm(embedOne(embedder, "a")), 1.0, kUnitTolerance);
}

TEST(HashingEmbedder, DeterministicAndIndependentOfTheBatch) {
  std::mt19937_64 rng(kSeed + 1);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(randomText(rng));
  texts.push_back(texts[3]);  // a repeat inside the batch
  std::vector<std::string_view> views(texts.begin(), texts.end());

  HashingEmbedder embedder(384, 7, true);
  const Matrix batch = embedder.embed(views);
  ASSERT_EQ(batch.rows, static_cast<int64_t>(texts.size()));
  ASSERT_EQ(batch.cols, 384);
  HashingEmbedder fresh(384, 7, true);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_TRUE(bitIdentical(batch.row(static_cast<int64_t>(i)), embedOne(fresh, texts[i])))
        << "seed=" << kSeed + 1 << " text " << i << " '" << texts[i] << "'";
  }
  // A shuffled batch gives the same row for each text.
  std::vector<size_t> order(texts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::string_view> shuffled;
  for (size_t i : order) shuffled.push_back(views[i]);
  const Matrix again = embedder.embed(shuffled);
  for (size_t j = 0; j < order.size(); ++j) {
    EXPECT_TRUE(
        bitIdentical(again.row(static_cast<int64_t>(j)), batch.row(static_cast<int64_t>(order[j]))))
        << "seed=" << kSeed + 1 << " text " << order[j];
  }
  EXPECT_EQ(embedder.stats().texts, 2 * static_cast<int64_t>(texts.size()));
  // The empty batch.
  EXPECT_EQ(embedder.embed({}).rows, 0);
}

TEST(HashingEmbedder, AsciiCaseInsensitivePunctuationSeparates) {
  HashingEmbedder embedder(384, 0, true);
  const std::vector<float> hello = embedOne(embedder, "hello world");
  EXPECT_TRUE(bitIdentical(embedOne(embedder, "Hello World"), hello));
  EXPECT_TRUE(bitIdentical(embedOne(embedder, "HELLO,  world!"), hello));
  EXPECT_TRUE(bitIdentical(embedOne(embedder, "  hello\r\nWORLD  "), hello));
  EXPECT_FALSE(bitIdentical(embedOne(embedder, "helloworld"), hello));
  // Only ASCII is lower-cased: 'É' and 'é' are different bytes.
  EXPECT_FALSE(bitIdentical(embedOne(embedder, "CAF\xC3\x89"), embedOne(embedder, "caf\xC3\xA9")));
  EXPECT_TRUE(bitIdentical(embedOne(embedder, "CAF\xC3\xA9"), embedOne(embedder, "caf\xC3\xA9")));
}

TEST(HashingEmbedder, BigramOrderMattersOnlyWithBigrams) {
  HashingEmbedder with(1024, 0, true);
  HashingEmbedder without(1024, 0, false);
  EXPECT_FALSE(bitIdentical(embedOne(with, "a b"), embedOne(with, "b a")));
  EXPECT_TRUE(bitIdentical(embedOne(without, "a b"), embedOne(without, "b a")));
  EXPECT_FALSE(bitIdentical(embedOne(with, "a b"), embedOne(with, "ab")));
  // Bigrams are of adjacent tokens: one token has none, so both settings agree.
  EXPECT_TRUE(bitIdentical(embedOne(with, "solo"), embedOne(without, "solo")));
}

TEST(HashingEmbedder, SeedAndDimensionChangeTheVectorsAndTheSignature) {
  HashingEmbedder base(384, 0, true);
  HashingEmbedder seeded(384, 1, true);
  EXPECT_FALSE(
      bitIdentical(embedOne(base, "some words here"), embedOne(seeded, "some words here")));
  EXPECT_EQ(base.dim(), 384);
  EXPECT_EQ(base.signature(), "hashing dim=384 seed=0 bigrams=true");
  EXPECT_EQ(HashingEmbedder(16, 5, false).signature(), "hashing dim=16 seed=5 bigrams=false");
  EXPECT_THROW(HashingEmbedder(0, 0, true), InternalError);
}

// ---- CachingEmbedder ----

// The inner embedder: a HashingEmbedder that records every text it is asked for.
class RecordingEmbedder : public Embedder {
 public:
  RecordingEmbedder() : inner_(96, 3, true) {}
  int64_t dim() const override { return inner_.dim(); }
  std::string signature() const override { return inner_.signature(); }
  Matrix embed(std::span<const std::string_view> texts) override {
    for (const auto t : texts) seen.emplace_back(t);
    return inner_.embed(texts);
  }
  EmbedderStats stats() const override { return inner_.stats(); }
  std::vector<std::string> seen;

 private:
  HashingEmbedder inner_;
};

// A plain LRU: a batch looks every text up first (hits become most recent), then inserts the
// misses in batch order, evicting the least recently used beyond `max`.
class LruModel {
 public:
  explicit LruModel(size_t max) : max_(max) {}
  std::vector<std::string> batch(const std::vector<std::string>& texts) {
    std::vector<std::string> misses;
    for (const auto& t : texts) {
      const auto found = std::find(order_.begin(), order_.end(), t);
      if (found != order_.end()) {
        order_.splice(order_.begin(), order_, found);
        ++hits;
      } else {
        misses.push_back(t);
      }
    }
    for (const auto& t : misses) {
      order_.push_front(t);
      if (order_.size() > max_) order_.pop_back();
    }
    this->misses += static_cast<int64_t>(misses.size());
    return misses;
  }
  size_t size() const { return order_.size(); }
  int64_t hits = 0;
  int64_t misses = 0;

 private:
  size_t max_;
  std::list<std::string> order_;  // most recent first
};

Matrix embedStrings(Embedder& embedder, const std::vector<std::string>& texts) {
  std::vector<std::string_view> views(texts.begin(), texts.end());
  return embedder.embed(views);
}

TEST(CachingEmbedder, MatchesAnLruModelAndTheInnerEmbedder) {
  std::mt19937_64 rng(kSeed + 2);
  for (int trial = 0; trial < 30; ++trial) {
    const size_t maxEntries = 1 + rng() % 12;
    const size_t vocabulary = 2 + rng() % 25;
    const std::string params = fmt::format("seed={} trial={} max={} vocabulary={}", kSeed + 2,
                                           trial, maxEntries, vocabulary);
    auto inner = std::make_unique<RecordingEmbedder>();
    RecordingEmbedder* recorder = inner.get();
    CachingEmbedder cache(std::move(inner), static_cast<int64_t>(maxEntries));
    RecordingEmbedder reference;
    LruModel model(maxEntries);
    for (int round = 0; round < 40; ++round) {
      // A batch of distinct texts (repeats within one batch are covered separately).
      std::vector<std::string> batch;
      const size_t size = rng() % 8;
      for (size_t i = 0; i < size; ++i) {
        const std::string text = fmt::format("text number {}", rng() % vocabulary);
        if (std::find(batch.begin(), batch.end(), text) == batch.end()) batch.push_back(text);
      }
      recorder->seen.clear();
      const Matrix got = embedStrings(cache, batch);
      const std::vector<std::string> expectedMisses = model.batch(batch);
      const Matrix expected = embedStrings(reference, batch);
      ASSERT_EQ(recorder->seen, expectedMisses) << params << " round " << round;
      ASSERT_EQ(cache.stats().cacheHits, model.hits) << params << " round " << round;
      ASSERT_EQ(cache.stats().cacheMisses, model.misses) << params << " round " << round;
      ASSERT_EQ(cache.stats().texts, model.hits + model.misses) << params;
      ASSERT_EQ(cache.size(), static_cast<int64_t>(model.size())) << params << " round " << round;
      ASSERT_EQ(got.rows, static_cast<int64_t>(batch.size())) << params;
      for (size_t i = 0; i < batch.size(); ++i) {
        ASSERT_TRUE(
            bitIdentical(got.row(static_cast<int64_t>(i)), expected.row(static_cast<int64_t>(i))))
            << params << " round " << round << " text '" << batch[i] << "'";
      }
    }
  }
}

TEST(CachingEmbedder, EvictedTextIsAMissAgain) {
  auto inner = std::make_unique<RecordingEmbedder>();
  RecordingEmbedder* recorder = inner.get();
  CachingEmbedder cache(std::move(inner), 2);
  embedStrings(cache, {"a", "b"});
  embedStrings(cache, {"a"});  // hit: a is now the most recent
  embedStrings(cache, {"c"});  // miss: evicts b, the least recent
  EXPECT_EQ(cache.size(), 2);
  recorder->seen.clear();
  embedStrings(cache, {"a", "c"});
  EXPECT_TRUE(recorder->seen.empty()) << "a and c should still be cached";
  embedStrings(cache, {"b"});
  EXPECT_EQ(recorder->seen, std::vector<std::string>{"b"}) << "b was evicted";
  const EmbedderStats s = cache.stats();
  EXPECT_EQ(s.cacheHits, 3);
  EXPECT_EQ(s.cacheMisses, 4);
  EXPECT_EQ(s.texts, 7);
  EXPECT_EQ(cache.dim(), 96);
  EXPECT_EQ(cache.signature(), "hashing dim=96 seed=3 bigrams=true");
}

TEST(CachingEmbedder, RepeatsInsideOneBatchGiveIdenticalRowsAndOneEntry) {
  CachingEmbedder cache(std::make_unique<RecordingEmbedder>(), 10);
  const Matrix m = embedStrings(cache, {"same", "other", "same"});
  EXPECT_TRUE(bitIdentical(m.row(0), m.row(2)));
  EXPECT_EQ(cache.size(), 2);
  EXPECT_EQ(cache.stats().texts, 3);
  const Matrix again = embedStrings(cache, {"same"});
  EXPECT_TRUE(bitIdentical(again.row(0), m.row(0)));
  EXPECT_EQ(cache.stats().cacheHits, 1);
}

TEST(CachingEmbedder, MaxZeroDisablesTheCache) {
  auto inner = std::make_unique<RecordingEmbedder>();
  RecordingEmbedder* recorder = inner.get();
  CachingEmbedder cache(std::move(inner), 0);
  RecordingEmbedder reference;
  for (int round = 0; round < 3; ++round) {
    const Matrix m = embedStrings(cache, {"x", "y", "x"});
    const Matrix expected = embedStrings(reference, {"x", "y", "x"});
    EXPECT_EQ(m.values, expected.values);
  }
  EXPECT_EQ(recorder->seen.size(), 9u) << "every text goes to the inner embedder";
  EXPECT_EQ(cache.size(), 0);
  EXPECT_EQ(cache.stats().cacheHits, 0);
  EXPECT_EQ(cache.stats().cacheMisses, 9);
  EXPECT_EQ(cache.stats().texts, 9);
}

TEST(CachingEmbedder, EmptyBatch) {
  CachingEmbedder cache(std::make_unique<RecordingEmbedder>(), 4);
  const Matrix m = embedStrings(cache, {});
  EXPECT_EQ(m.rows, 0);
  EXPECT_EQ(m.cols, 96);
  EXPECT_EQ(cache.stats().texts, 0);
}

}  // namespace
}  // namespace eleanor
