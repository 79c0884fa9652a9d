#include "worker/embed/torchscript_embedder.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <numeric>

#include "common/blas_core.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "common/text_hash.h"
#include "worker/embed/wordpiece_tokenizer.h"
#include "worker/retrieval/exact_topk.h"

namespace eleanor {
namespace {

constexpr int64_t kLengthStep = 16;  // padded lengths are multiples of this

at::ScalarType modelType(const std::string& dtype) {
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "float16") return at::kHalf;
  return at::kFloat;
}

// The first line of a LibTorch error (the rest is a C++ or TorchScript backtrace).
std::string firstLine(const std::exception& e) {
  const std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

}  // namespace

struct TorchScriptEmbedder::Impl {
  TorchScriptEmbedderOptions options;
  WordPieceTokenizer tokenizer;
  torch::jit::Module module;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;
  int64_t dim = 0;
  std::string signature;
  int64_t texts = 0;
  int64_t tokens = 0;
  int64_t paddedTokens = 0;

  Impl(TorchScriptEmbedderOptions o)
      : options(std::move(o)),
        tokenizer(WordPieceTokenizer::fromFile(options.vocab,
                                               WordPieceOptions{.lowerCase = options.lowerCase,
                                                                .stripAccents = options.lowerCase,
                                                                .maxSeqLen = options.maxSeqLen})) {}

  // The length a text of n tokens is padded to: the next multiple of kLengthStep, at most
  // max_seq_len (so the model never sees more positions than it was configured for).
  int64_t paddedLength(size_t n) const {
    return std::min<int64_t>(
        options.maxSeqLen, (static_cast<int64_t>(n) + kLengthStep - 1) / kLengthStep * kLengthStep);
  }

  // Texts per model call, and so the rows of every call: see the header on determinism.
  int64_t rowsPerCall() const { return device.is_cpu() ? 1 : options.batchSize; }

  // The model's float32 sentence rows for texts of one padded length, on the model's device
  // (queued there: nothing waits for them). Every call has rowsPerCall() rows (filled up with
  // [CLS] [SEP] rows): one shape per length.
  at::Tensor run(const std::vector<const std::vector<int32_t>*>& ids, int64_t length) {
    const int64_t rows = static_cast<int64_t>(ids.size());
    const int64_t paddedRows = std::max<int64_t>(rows, rowsPerCall());
    // For a GPU the ids are written to pinned memory, so that their copy queues behind the
    // calls before it instead of waiting for them (LibTorch keeps such a block until its copy
    // is done).
    const auto hostLong = at::TensorOptions().dtype(at::kLong).pinned_memory(!device.is_cpu());
    at::Tensor inputIds = at::full({paddedRows, length}, tokenizer.padId(), hostLong);
    at::Tensor mask = at::zeros({paddedRows, length}, hostLong);
    auto idsOut = inputIds.accessor<int64_t, 2>();
    auto maskOut = mask.accessor<int64_t, 2>();
    const std::vector<int32_t> filler{tokenizer.clsId(), tokenizer.sepId()};
    for (int64_t r = 0; r < paddedRows; ++r) {
      const auto& row = r < rows ? *ids[static_cast<size_t>(r)] : filler;
      for (size_t t = 0; t < row.size(); ++t) {
        idsOut[r][static_cast<int64_t>(t)] = row[t];
        maskOut[r][static_cast<int64_t>(t)] = 1;
      }
    }
    inputIds = inputIds.to(device, at::kLong, /*non_blocking=*/true);
    mask = mask.to(device, at::kLong, /*non_blocking=*/true);
    c10::InferenceMode inference;
    const c10::IValue result = module.forward({inputIds, mask});
    at::Tensor out = pickOutput(result).to(at::kFloat);
    if (options.output == "token") {
      if (out.dim() != 3 || out.size(0) != paddedRows || out.size(1) != length)
        throw UserError(fmt::format(
            "{}: embedder.output is token but the model returned shape {} for {} texts of {} "
            "tokens (expected {} x {} x D): set embedder.output: sentence if it returns one "
            "vector per text",
            options.model, shapeText(out), paddedRows, length, paddedRows, length));
      if (options.pooling == "cls") {
        out = out.select(1, 0);
      } else {
        const at::Tensor weights = mask.to(at::kFloat).unsqueeze(2);
        out = out.mul(weights).sum(1).div(weights.sum(1).clamp_min(1.0));
      }
    } else if (out.dim() != 2 || out.size(0) != paddedRows) {
      throw UserError(fmt::format(
          "{}: embedder.output is sentence but the model returned shape {} for {} texts "
          "(expected {} x D): set embedder.output: token if it returns token embeddings",
          options.model, shapeText(out), paddedRows, paddedRows));
    }
    return out.slice(0, 0, rows).contiguous();  // not a view that keeps the token rows alive
  }

  at::Tensor pickOutput(const c10::IValue& value) const {
    if (value.isTensor()) return value.toTensor();
    if (value.isTuple()) {
      const auto& elements = value.toTupleRef().elements();
      if (!elements.empty() && elements[0].isTensor()) return elements[0].toTensor();
    }
    if (value.isList()) {
      const auto list = value.toList();
      if (list.size() > 0 && list.get(0).isTensor()) return list.get(0).toTensor();
    }
    if (value.isGenericDict()) {
      const auto dict = value.toGenericDict();
      const std::vector<std::string> names =
          options.output == "sentence"
              ? std::vector<std::string>{"sentence_embedding", "pooler_output"}
              : std::vector<std::string>{"token_embeddings", "last_hidden_state"};
      for (const auto& name : names) {
        const auto it = dict.find(name);
        if (it != dict.end() && it->value().isTensor()) return it->value().toTensor();
      }
    }
    throw UserError(fmt::format(
        "{}: the model returned {} where a tensor (or a tuple, list or dict holding one: "
        "token_embeddings / last_hidden_state / sentence_embedding) was expected",
        options.model, value.tagKind()));
  }

  static std::string shapeText(const at::Tensor& t) {
    std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
    return fmt::format("[{}]", fmt::join(sizes, " x "));
  }

  // The token ids of `texts`, in order: over the intra-op threads when `parallel` (each text's
  // ids are its own, so the result is the same), else on the calling thread.
  std::vector<std::vector<int32_t>> tokenize(std::span<const std::string_view> texts,
                                             bool parallel) const {
    std::vector<std::vector<int32_t>> ids(texts.size());
    const auto encode = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) ids[i] = tokenizer.encode(texts[i]);
    };
    if (parallel)
      at::parallel_for(0, static_cast<int64_t>(texts.size()), 64, encode);
    else
      encode(0, static_cast<int64_t>(texts.size()));
    return ids;
  }

  // Embeds one group of texts (already tokenized) into rows [first, first + ids.size()).
  void embedGroup(const std::vector<std::vector<int32_t>>& ids, int64_t first, Matrix& out) {
    std::vector<size_t> order(ids.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return paddedLength(ids[a].size()) < paddedLength(ids[b].size());
    });
    // The model calls: runs of one padded length, at most rowsPerCall() texts each.
    struct Call {
      size_t begin, end;
      int64_t length;
    };
    std::vector<Call> calls;
    for (size_t begin = 0; begin < order.size();) {
      const int64_t length = paddedLength(ids[order[begin]].size());
      size_t end = begin;
      while (end < order.size() && paddedLength(ids[order[end]].size()) == length &&
             static_cast<int64_t>(end - begin) < rowsPerCall()) {
        tokens += static_cast<int64_t>(ids[order[end]].size());
        ++end;
      }
      calls.push_back({begin, end, length});
      paddedTokens += std::max<int64_t>(static_cast<int64_t>(end - begin), rowsPerCall()) * length;
      begin = end;
    }
    const auto launch = [&](const Call& call) {
      std::vector<const std::vector<int32_t>*> batch;
      for (size_t i = call.begin; i < call.end; ++i) batch.push_back(&ids[order[i]]);
      return run(batch, call.length);
    };
    const auto store = [&](const Call& call, const at::Tensor& device) {
      const at::Tensor rows = device.to(at::kCPU).contiguous();
      const float* values = rows.data_ptr<float>();
      for (size_t i = call.begin; i < call.end; ++i) {
        const float* src = values + static_cast<int64_t>(i - call.begin) * dim;
        std::copy(src, src + dim, out.row(first + static_cast<int64_t>(order[i])).begin());
      }
    };
    if (device.is_cpu()) {
      // One text per call: the calls run side by side on the intra-op threads, each on one
      // thread (operators inside a parallel region run inline, and OpenBLAS on the calling
      // thread), so a text's arithmetic is the same whoever runs it.
      const BlasOnCallingThread blasInline;
      at::parallel_for(0, static_cast<int64_t>(calls.size()), 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          const Call& call = calls[static_cast<size_t>(c)];
          store(call, launch(call));
        }
      });
    } else {
      // On a GPU every call is queued before any rows come back: a copy to the host after each
      // call would leave the GPU idle while the next one is launched.
      std::vector<at::Tensor> rows;
      for (const Call& call : calls) rows.push_back(launch(call));
      for (size_t c = 0; c < calls.size(); ++c) store(calls[c], rows[c]);
    }
  }
};

TorchScriptEmbedder::TorchScriptEmbedder(TorchScriptEmbedderOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& m = *impl_;
  const auto& o = m.options;
  if (!std::filesystem::is_regular_file(o.model))
    throw UserError(
        fmt::format("embedder.model {}: no such file (export a model with "
                    "scripts/export-model.py)",
                    o.model));
  m.device = o.cudaDevice >= 0 ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(o.cudaDevice))
                               : at::Device(at::kCPU);
  m.dtype = o.cudaDevice >= 0 ? modelType(o.dtype) : at::kFloat;
  try {
    m.module = torch::jit::load(o.model, m.device);
  } catch (const std::exception& e) {
    throw UserError(
        fmt::format("embedder.model {}: not a TorchScript module LibTorch can load "
                    "({}): export it with scripts/export-model.py",
                    o.model, firstLine(e)));
  }
  m.module.eval();
  if (m.dtype != at::kFloat) m.module.to(m.dtype);

  // One probe text: the output's shape and dimension, before any case is read.
  const std::vector<int32_t> probe = m.tokenizer.encode("eleanor probe");
  at::Tensor row;
  try {
    row = m.run({&probe}, m.paddedLength(probe.size())).to(at::kCPU);  // waits: errors here
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw UserError(fmt::format(
        "embedder.model {}: forward(input_ids, attention_mask) failed on a probe text ({}): the "
        "runner calls the model with two int64 tensors of shape batch x tokens; export it with "
        "scripts/export-model.py",
        o.model, firstLine(e)));
  }
  // And the longest input a text can make: a model with fewer positions fails here, not on
  // the first long case hours into the job.
  std::vector<int32_t> longest(static_cast<size_t>(o.maxSeqLen), m.tokenizer.unkId());
  longest.front() = m.tokenizer.clsId();
  longest.back() = m.tokenizer.sepId();
  try {
    m.run({&longest}, m.paddedLength(longest.size())).to(at::kCPU);
  } catch (const std::exception& e) {
    throw UserError(
        fmt::format("embedder.max_seq_len is {} but the model {} fails on {} tokens ({}): lower "
                    "embedder.max_seq_len to what the model takes (its max_position_embeddings)",
                    o.maxSeqLen, o.model, o.maxSeqLen, firstLine(e)));
  }
  m.paddedTokens = 0;
  m.dim = row.size(1);
  if (o.dim > 0 && m.dim != o.dim)
    throw UserError(
        fmt::format("embedder.dim is {} but the model {} returns {}-dimensional embeddings: set "
                    "embedder.dim: {} (and index the precedents with this model)",
                    o.dim, o.model, m.dim, m.dim));
  m.signature = fmt::format(
      "torchscript model={} model_xxh64={} vocab_xxh64={} output={} pooling={} max_seq_len={} "
      "lower_case={}",
      std::filesystem::path(o.model).filename().string(), fileHash64Hex(o.model),
      fileHash64Hex(o.vocab), o.output, o.output == "token" ? o.pooling : "model", o.maxSeqLen,
      o.lowerCase ? 1 : 0);
}

TorchScriptEmbedder::~TorchScriptEmbedder() = default;

int64_t TorchScriptEmbedder::dim() const {
  return impl_->dim;
}
std::string TorchScriptEmbedder::signature() const {
  return impl_->signature;
}
EmbedderStats TorchScriptEmbedder::stats() const {
  return {impl_->texts, 0, 0};
}
int64_t TorchScriptEmbedder::tokens() const {
  return impl_->tokens;
}
int64_t TorchScriptEmbedder::paddedTokens() const {
  return impl_->paddedTokens;
}

Matrix TorchScriptEmbedder::embed(std::span<const std::string_view> texts) {
  Impl& m = *impl_;
  Matrix out(static_cast<int64_t>(texts.size()), m.dim);
  // Groups of a few model batches: grouping by length works within a group. The first group
  // is tokenized over every core (nothing else runs yet); each next one while the model runs
  // this one, over the cores too where the model runs on a GPU (the CPU only feeds it), on one
  // thread beside a model that runs on the CPU.
  const size_t group = static_cast<size_t>(m.options.batchSize) * 8;
  const auto part = [&](size_t begin) {
    return texts.subspan(begin, std::min(group, texts.size() - begin));
  };
  const bool parallelAhead = !m.device.is_cpu();
  std::vector<std::vector<int32_t>> ids;
  if (!texts.empty()) ids = m.tokenize(part(0), true);
  for (size_t begin = 0; begin < texts.size(); begin += group) {
    std::future<std::vector<std::vector<int32_t>>> next;
    if (begin + group < texts.size())
      next = std::async(std::launch::async, [&m, ahead = part(begin + group), parallelAhead] {
        return m.tokenize(ahead, parallelAhead);
      });
    m.embedGroup(ids, static_cast<int64_t>(begin), out);
    if (next.valid()) ids = next.get();
  }
  normalizeRows(out);
  m.texts += static_cast<int64_t>(texts.size());
  return out;
}

}  // namespace eleanor
