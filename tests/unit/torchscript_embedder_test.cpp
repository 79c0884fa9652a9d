// The TorchScript embedder and model critics through their real loading path, on a tiny
// BERT-shaped model made by the test (tests/support/tiny_bert.h): embeddings equal a direct,
// unpadded run of the same module; a text embeds to the same bits alone or in any batch; the
// start-up checks name the setting and both values.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "tests/support/tiny_bert.h"
#include "tests/unit/scratch_dir.h"
#include "worker/critics/model_critics.h"
#include "worker/embed/torchscript_embedder.h"
#include "worker/embed/wordpiece_tokenizer.h"

namespace eleanor {
namespace {

using testing::TinyBertShape;

class TorchScriptEmbedderTest : public ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    vocab_ = path("vocab.txt");
    model_ = path("model.pt");
    const auto tokens = testing::tinyVocabulary({"the", "model", "harm", "fair", "##ing"});
    testing::writeVocabulary(vocab_, tokens);
    vocabSize_ = static_cast<int64_t>(tokens.size());
    testing::writeTinyBert(model_, vocabSize_, TinyBertShape{});
  }

  TorchScriptEmbedderOptions options() const {
    TorchScriptEmbedderOptions o;
    o.model = model_;
    o.vocab = vocab_;
    o.dim = 32;
    o.batchSize = 4;
    return o;
  }

  // The reference: the module run on one text with no padding, pooled in double.
  std::vector<double> reference(const std::string& text, const std::string& pooling) const {
    const auto tokenizer = WordPieceTokenizer::fromFile(vocab_, {});
    const std::vector<int32_t> ids = tokenizer.encode(text);
    auto module = torch::jit::load(model_);
    c10::InferenceMode inference;
    const at::Tensor input =
        at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
    const at::Tensor out =
        module.forward({input, at::ones_like(input)}).toTensor().squeeze(0).to(at::kDouble);
    const at::Tensor pooled = pooling == "cls" ? out[0] : out.mean(0);
    std::vector<double> row(pooled.data_ptr<double>(), pooled.data_ptr<double>() + pooled.numel());
    double norm = 0;
    for (double v : row) norm += v * v;
    for (double& v : row) v /= std::sqrt(norm);
    return row;
  }

  std::string vocab_, model_;
  int64_t vocabSize_ = 0;
};

const std::vector<std::string> kTexts = {
    "The model said no.",
    "",
    "Harmful, unfair thing: the model refused!",
    "fairing the harm",
    "a",
    "Écoute: déjà vu — 我爱AI 2024",
    "the the the the the the the the the the the the the the the the the the the the the the",
    "Completely unknown zzzqqq words xylophone",
    "model",
};

TEST_F(TorchScriptEmbedderTest, MatchesAnUnpaddedRunOfTheModule) {
  for (const std::string pooling : {"mean", "cls"}) {
    auto o = options();
    o.pooling = pooling;
    TorchScriptEmbedder embedder(o);
    EXPECT_EQ(embedder.dim(), 32);
    std::vector<std::string_view> views(kTexts.begin(), kTexts.end());
    const Matrix rows = embedder.embed(views);
    ASSERT_EQ(rows.rows, static_cast<int64_t>(kTexts.size()));
    for (size_t i = 0; i < kTexts.size(); ++i) {
      const std::vector<double> expected = reference(kTexts[i], pooling);
      for (int64_t d = 0; d < 32; ++d)
        EXPECT_NEAR(rows.row(static_cast<int64_t>(i))[d], expected[d], 2e-5)
            << pooling << " text " << i << " dim " << d;
    }
  }
}

TEST_F(TorchScriptEmbedderTest, ATextEmbedsToTheSameBitsInAnyBatch) {
  TorchScriptEmbedder together(options());
  std::vector<std::string_view> views(kTexts.begin(), kTexts.end());
  const Matrix all = together.embed(views);

  std::mt19937 random(7);
  // The same settings (embedder.batch_size is one setting for the job), other calls: texts
  // shuffled and split into calls of random sizes, as rounds at another W would give them.
  for (int trial = 0; trial < 4; ++trial) {
    TorchScriptEmbedder embedder(options());
    std::vector<size_t> order(kTexts.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), random);
    // Split the shuffled texts into calls of random sizes.
    for (size_t begin = 0; begin < order.size();) {
      const size_t size = std::min<size_t>(order.size() - begin, 1 + random() % 4);
      std::vector<std::string_view> part;
      for (size_t i = begin; i < begin + size; ++i) part.push_back(kTexts[order[i]]);
      const Matrix rows = embedder.embed(part);
      for (size_t i = 0; i < size; ++i) {
        const auto expected = all.row(static_cast<int64_t>(order[begin + i]));
        const auto got = rows.row(static_cast<int64_t>(i));
        EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin()))
            << "text " << order[begin + i] << " trial " << trial;
      }
      begin += size;
    }
  }
  // Padding is by length bucket: fewer padded tokens than one batch padded to the longest.
  EXPECT_GT(together.tokens(), 0);
  EXPECT_LT(together.paddedTokens(), 128 * static_cast<int64_t>(kTexts.size()));
}

TEST_F(TorchScriptEmbedderTest, SentenceOutputIsTheModelsOwnPooling) {
  const std::string sentenceModel = path("sentence.pt");
  testing::writeTinyBert(sentenceModel, vocabSize_, TinyBertShape{.sentenceOutput = true});
  auto o = options();
  TorchScriptEmbedder tokens(o);
  o.model = sentenceModel;
  o.output = "sentence";
  TorchScriptEmbedder sentences(o);
  std::vector<std::string_view> views(kTexts.begin(), kTexts.end());
  const Matrix a = tokens.embed(views), b = sentences.embed(views);
  for (size_t i = 0; i < a.values.size(); ++i) EXPECT_NEAR(a.values[i], b.values[i], 1e-5);
  EXPECT_NE(tokens.signature(), sentences.signature());
}

TEST_F(TorchScriptEmbedderTest, TruncatesLongTextsToMaxSeqLen) {
  auto o = options();
  o.maxSeqLen = 16;
  TorchScriptEmbedder embedder(o);
  std::string longText;
  for (int i = 0; i < 500; ++i) longText += "harm ";
  const std::vector<std::string_view> views{longText};
  const Matrix rows = embedder.embed(views);
  EXPECT_EQ(embedder.tokens(), 16);
  double norm = 0;
  for (float v : rows.row(0)) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-6);
}

// A max_seq_len that is not a multiple of the 16-token length step: the longest texts are
// padded to max_seq_len itself, never past the model's positions.
TEST_F(TorchScriptEmbedderTest, PaddingNeverPassesMaxSeqLen) {
  auto o = options();
  o.model = path("short.pt");
  testing::writeTinyBert(o.model, vocabSize_, TinyBertShape{.maxPositions = 100});
  o.maxSeqLen = 100;
  TorchScriptEmbedder embedder(o);
  std::string longText;
  for (int i = 0; i < 300; ++i) longText += "model ";
  const std::vector<std::string_view> views{longText, "short"};
  const Matrix rows = embedder.embed(views);
  EXPECT_EQ(embedder.tokens(), 100 + 7);  // "short": [CLS] s ##h ##o ##r ##t [SEP]
  for (int64_t r = 0; r < 2; ++r) {
    double norm = 0;
    for (float v : rows.row(r)) norm += double(v) * v;
    EXPECT_NEAR(norm, 1.0, 1e-6);
  }
}

TEST_F(TorchScriptEmbedderTest, StartUpChecksNameTheSettingAndBothValues) {
  auto wrongDim = options();
  wrongDim.dim = 384;
  try {
    TorchScriptEmbedder embedder(wrongDim);
    FAIL() << "a 32-dimensional model was accepted as 384";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "embedder.dim is 384 but the model " + model_ +
                  " returns 32-dimensional embeddings: set embedder.dim: 32 (and index the "
                  "precedents with this model)");
  }

  // The tiny BERT has 128 positions.
  auto tooLong = options();
  tooLong.maxSeqLen = 200;
  try {
    TorchScriptEmbedder embedder(tooLong);
    FAIL() << "a 128-position model was accepted for 200 tokens";
  } catch (const UserError& e) {
    EXPECT_EQ(
        std::string(e.what()).rfind(
            "embedder.max_seq_len is 200 but the model " + model_ + " fails on 200 tokens (", 0),
        0u)
        << e.what();
  }

  auto sentence = options();
  sentence.output = "sentence";
  try {
    TorchScriptEmbedder embedder(sentence);
    FAIL() << "token embeddings were accepted as sentence embeddings";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              model_ +
                  ": embedder.output is sentence but the model returned shape [1 x 16 x 32] "
                  "for 1 texts (expected 1 x D): set embedder.output: token if it returns "
                  "token embeddings");
  }

  auto missing = options();
  missing.model = path("nope.pt");
  EXPECT_THROW(
      {
        try {
          TorchScriptEmbedder embedder(missing);
        } catch (const UserError& e) {
          EXPECT_EQ(std::string(e.what()),
                    "embedder.model " + missing.model +
                        ": no such file (export a model with scripts/export-model.py)");
          throw;
        }
      },
      UserError);

  auto garbage = options();
  garbage.model = write("garbage.pt", "not a zip archive");
  try {
    TorchScriptEmbedder embedder(garbage);
    FAIL() << "a text file loaded as a model";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("embedder.model " + garbage.model +
                                              ": not a TorchScript module LibTorch can load (",
                                          0),
              0u)
        << e.what();
  }

  // A critic head takes one input: as an embedder its forward fails on the probe.
  auto head = options();
  head.model = path("head.pt");
  testing::writeCriticHead(head.model, 32, 3);
  try {
    TorchScriptEmbedder embedder(head);
    FAIL() << "a one-input module was accepted as an embedder";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("embedder.model " + head.model +
                                              ": forward(input_ids, attention_mask) failed on a "
                                              "probe text (",
                                          0),
              0u)
        << e.what();
  }
}

class ModelCriticsTest : public TorchScriptEmbedderTest {
 protected:
  JobConfig config(std::vector<JobConfig::ModelCritic> models) const {
    JobConfig c;
    c.critics.models = std::move(models);
    return c;
  }
  // truth: a B-vector head combined by max; fairness: a B x 1 head, weighted 0.25.
  ModelCritics twoHeads() {
    truth_ = path("truth.pt");
    fairness_ = path("fairness.pt");
    testing::writeCriticHead(truth_, 32, 5);
    testing::writeCriticHead(fairness_, 32, 6, /*column=*/true);
    return ModelCritics(
        config({{"truth", truth_, "max", 0.5}, {"fairness", fairness_, "weighted", 0.25}}),
        DevicePlan{}, names_, 32);
  }
  const std::vector<std::string> names_{"rights", "truth", "fairness"};
  std::string truth_, fairness_;  // the heads' files, set by twoHeads()
};

TEST_F(ModelCriticsTest, CombinesHeadsWithTheRuleCriticOfTheSameName) {
  const ModelCritics critics = twoHeads();
  ASSERT_FALSE(critics.empty());

  TorchScriptEmbedder embedder(options());
  std::vector<std::string_view> views(kTexts.begin(), kTexts.end());
  const Matrix embeddings = embedder.embed(views);
  CriticScores scores;
  scores.numCritics = 3;
  for (size_t b = 0; b < kTexts.size(); ++b) {
    for (double s : {0.5, 1.5 * (b % 3), 2.0}) scores.severity.push_back(s);
  }
  const CriticScores rules = scores;
  critics.apply(embeddings, scores);

  const auto direct = [&](const std::string& file) {
    auto module = torch::jit::load(file);
    c10::InferenceMode inference;
    const at::Tensor input = at::from_blob(const_cast<float*>(embeddings.values.data()),
                                           {embeddings.rows, 32}, at::kFloat);
    return module.forward({input}).toTensor().reshape({-1}).to(at::kDouble).contiguous();
  };
  const at::Tensor t = direct(truth_), f = direct(fairness_);
  for (size_t b = 0; b < kTexts.size(); ++b) {
    EXPECT_EQ(scores.severity[b * 3 + 0], rules.severity[b * 3 + 0]);  // no head: unchanged
    EXPECT_NEAR(scores.severity[b * 3 + 1],
                std::max(rules.severity[b * 3 + 1], t[b].item<double>()), 1e-6);
    EXPECT_NEAR(scores.severity[b * 3 + 2],
                0.75 * rules.severity[b * 3 + 2] + 0.25 * f[b].item<double>(), 1e-6);
  }
}

TEST_F(ModelCriticsTest, ACaseScoresTheSameBitsInAnyBatch) {
  const ModelCritics critics = twoHeads();
  std::mt19937 random(3);
  std::normal_distribution<float> normal;
  Matrix all(203, 32);
  for (float& v : all.values) v = normal(random);
  const auto score = [&](int64_t begin, int64_t count) {
    Matrix part(count, 32);
    std::copy(all.values.begin() + begin * 32, all.values.begin() + (begin + count) * 32,
              part.values.begin());
    CriticScores s;
    s.numCritics = 3;
    s.severity.assign(static_cast<size_t>(count * 3), 1.0);
    critics.apply(part, s);
    return s.severity;
  };
  const std::vector<double> together = score(0, all.rows);
  for (const int64_t size : {1, 5, 64, 77}) {
    for (int64_t begin = 0; begin + size <= all.rows; begin += size) {
      const std::vector<double> part = score(begin, size);
      for (size_t i = 0; i < part.size(); ++i)
        ASSERT_EQ(part[i], together[static_cast<size_t>(begin * 3) + i])
            << "case " << begin + static_cast<int64_t>(i / 3) << " in a batch of " << size;
    }
  }
}

TEST_F(ModelCriticsTest, ACaseAHeadCannotScoreIsReportedAndTheOthersCombined) {
  const std::string nanHead = path("nan.pt");
  testing::writeNanWhereHead(nanHead, 0.0, 1.5);
  testing::writeCriticHead(path("fairness.pt"), 32, 6);
  const ModelCritics critics(
      config({{"truth", nanHead, "max", 0.5}, {"fairness", path("fairness.pt"), "max", 0.5}}),
      DevicePlan{}, names_, 32);
  std::mt19937 random(9);
  std::normal_distribution<float> normal;
  Matrix embeddings(40, 32);
  for (float& v : embeddings.values) v = normal(random);
  CriticScores scores;
  scores.numCritics = 3;
  scores.severity.assign(40 * 3, 1.0);
  const auto failures = critics.apply(embeddings, scores);
  std::vector<int64_t> expected;
  for (int64_t b = 0; b < 40; ++b)
    if (embeddings.row(b)[0] > 0) expected.push_back(b);
  ASSERT_GT(expected.size(), 0u);
  ASSERT_EQ(failures.size(), expected.size());
  for (size_t i = 0; i < failures.size(); ++i) {
    EXPECT_EQ(failures[i].row, expected[i]);
    EXPECT_EQ(failures[i].reason.rfind("critics.models.truth (" + nanHead + ") returned nan", 0),
              0u)
        << failures[i].reason;
  }
  for (int64_t b = 0; b < 40; ++b) {
    if (embeddings.row(b)[0] > 0) continue;
    EXPECT_EQ(scores.severity[b * 3 + 1], 1.5) << "case " << b;  // max(1.0, 1.5)
    EXPECT_GT(scores.severity[b * 3 + 2], 0.0) << "case " << b;
  }
}

TEST_F(ModelCriticsTest, RefusesUnknownNamesAndWrongModels) {
  const std::string head = path("head.pt");
  testing::writeCriticHead(head, 32, 5);
  try {
    ModelCritics critics(config({{"honesty", head, "max", 0.5}}), DevicePlan{}, names_, 32);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "critics.models.honesty: there is no rule critic 'honesty' to combine it with: use "
              "one of rights, truth, fairness");
  }
  try {
    ModelCritics critics(config({{"truth", head, "max", 0.5}}), DevicePlan{}, names_, 48);
    FAIL() << "a 32-input head was accepted for 48-dimensional embeddings";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("critics.models.truth.model " + head +
                                              ": forward(embeddings) failed on a probe of 1 x 48 (",
                                          0),
              0u)
        << e.what();
  }
  try {
    ModelCritics critics(config({{"truth", model_, "max", 0.5}}), DevicePlan{}, names_, 32);
    FAIL() << "an encoder was accepted as a critic head";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("critics.models.truth.model " + model_, 0), 0u)
        << e.what();
  }
}

}  // namespace
}  // namespace eleanor
