// TorchScriptEmbedder: a sentence-transformer exported to TorchScript (scripts/export-model.py),
// with its BERT WordPiece vocabulary.
//
//   texts -> WordPiece ids ([CLS] ... [SEP], at most maxSeqLen) -> forward(input_ids,
//   attention_mask) -> token embeddings B × L × D pooled (mean over the unmasked tokens, or
//   the [CLS] token), or the model's own sentence embedding B × D -> L2-normalised float rows.
//
// Throughput: the texts of a call are grouped by padded length (a multiple of 16 tokens), so a
// model call pads little; the next group is tokenized on a second thread while the model runs
// this one. Determinism: a text embeds to the same bits on any rank at any W. Its padded length
// depends on the text alone; BLAS libraries pick kernels by shape and treat rows by position
// (OpenBLAS has small-matrix kernels, and its Haswell kernels compute tail rows of a block
// differently), so on the CPU each text is its own model call (1 × length: the same input
// whatever else the round holds), and on a GPU every call has batchSize rows, filled up with
// empty texts: one shape per length (cuBLAS kernels predicate their edges). The tests check it
// on the CPU with the Prescott, Haswell and SkylakeX kernels.
#pragma once

#include <memory>
#include <string>

#include "worker/embed/embedder.h"

namespace eleanor {

struct TorchScriptEmbedderOptions {
  std::string model;             // TorchScript file: forward(input_ids, attention_mask)
  std::string vocab;             // BERT vocab.txt
  std::string output = "token";  // token: B × L × D (pooled here) | sentence: B × D
  std::string pooling = "mean";  // mean | cls
  int maxSeqLen = 128;
  bool lowerCase = true;
  int batchSize = 64;             // texts per model call on a GPU (1 on the CPU)
  int64_t dim = 384;              // what the config expects, checked against the model; 0: any
  int cudaDevice = -1;            // < 0: the CPU
  std::string dtype = "float32";  // on a GPU: bfloat16 | float16 | float32
};

class TorchScriptEmbedder : public Embedder {
 public:
  // Loads the vocabulary and the model and runs one probe text through it. Throws UserError
  // naming the file or setting when the model cannot be loaded, does not take
  // (input_ids, attention_mask), returns another shape than `output` says, or returns
  // vectors of another dimension than options.dim.
  explicit TorchScriptEmbedder(TorchScriptEmbedderOptions options);
  ~TorchScriptEmbedder() override;

  int64_t dim() const override;
  std::string signature() const override;
  Matrix embed(std::span<const std::string_view> texts) override;
  EmbedderStats stats() const override;

  // Token counts seen so far (after truncation) and tokens fed to the model (with padding).
  int64_t tokens() const;
  int64_t paddedTokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eleanor
