#include "tests/support/tiny_bert.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/jit/api/module.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

namespace eleanor::testing {
namespace {

at::Tensor randomNormal(at::Generator& generator, std::vector<int64_t> sizes, double std) {
  return at::normal(0.0, std, sizes, generator);
}

}  // namespace

std::vector<std::string> tinyVocabulary(const std::vector<std::string>& words) {
  std::vector<std::string> vocab{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 33; c < 127; ++c) vocab.emplace_back(1, c);
  for (char c = 'a'; c <= 'z'; ++c) vocab.push_back(std::string("##") + c);
  for (char c = '0'; c <= '9'; ++c) vocab.push_back(std::string("##") + c);
  vocab.insert(vocab.end(), words.begin(), words.end());
  return vocab;
}

void writeVocabulary(const std::string& path, const std::vector<std::string>& vocabulary) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& token : vocabulary) out << token << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

void writeTinyBert(const std::string& path, int64_t vocabSize, const TinyBertShape& shape) {
  at::Generator generator = at::detail::createCPUGenerator(shape.seed);
  torch::jit::Module module("TinyBert");
  const int64_t h = shape.hidden;
  const auto weight = [&](const std::string& name, std::vector<int64_t> sizes, double std) {
    module.register_parameter(name, randomNormal(generator, std::move(sizes), std), false);
  };
  const auto norm = [&](const std::string& name) {
    module.register_parameter(name + "_w", at::ones({h}) + randomNormal(generator, {h}, 0.05),
                              false);
    module.register_parameter(name + "_b", randomNormal(generator, {h}, 0.05), false);
  };
  weight("word", {vocabSize, h}, 0.5);
  weight("position", {shape.maxPositions, h}, 0.1);
  norm("embedding_norm");
  std::string layers;
  for (int64_t i = 0; i < shape.layers; ++i) {
    for (const char* part : {"q", "k", "v", "o"}) {
      weight(fmt::format("l{}_{}_w", i, part), {h, h}, 0.15);
      weight(fmt::format("l{}_{}_b", i, part), {h}, 0.02);
    }
    weight(fmt::format("l{}_up_w", i), {shape.intermediate, h}, 0.15);
    weight(fmt::format("l{}_up_b", i), {shape.intermediate}, 0.02);
    weight(fmt::format("l{}_down_w", i), {h, shape.intermediate}, 0.15);
    weight(fmt::format("l{}_down_b", i), {h}, 0.02);
    norm(fmt::format("l{}_attention_norm", i));
    norm(fmt::format("l{}_output_norm", i));
    layers += fmt::format(R"(
    q = (torch.matmul(x, self.l{0}_q_w.t()) + self.l{0}_q_b).view(b, n, {1}, {2}).transpose(1, 2)
    k = (torch.matmul(x, self.l{0}_k_w.t()) + self.l{0}_k_b).view(b, n, {1}, {2}).transpose(1, 2)
    v = (torch.matmul(x, self.l{0}_v_w.t()) + self.l{0}_v_b).view(b, n, {1}, {2}).transpose(1, 2)
    p = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * {3} + bias, -1)
    c = torch.matmul(p, v).transpose(1, 2).reshape(b, n, {4})
    a = torch.matmul(c, self.l{0}_o_w.t()) + self.l{0}_o_b
    x = torch.layer_norm(x + a, [{4}], self.l{0}_attention_norm_w, self.l{0}_attention_norm_b, 1e-12, False)
    f = torch.gelu(torch.matmul(x, self.l{0}_up_w.t()) + self.l{0}_up_b)
    f = torch.matmul(f, self.l{0}_down_w.t()) + self.l{0}_down_b
    x = torch.layer_norm(x + f, [{4}], self.l{0}_output_norm_w, self.l{0}_output_norm_b, 1e-12, False)
)",
                          i, shape.heads, h / shape.heads,
                          fmt::format("{:.17g}", 1.0 / std::sqrt(double(h / shape.heads))), h);
  }
  const std::string poison =
      shape.nanForToken < 0
          ? ""
          : fmt::format(
                "    poisoned = torch.any(input_ids == {}, 1).view(b, 1, 1)\n"
                "    x = torch.where(poisoned, torch.full_like(x, float('nan')), x)\n",
                shape.nanForToken);
  const std::string result = shape.sentenceOutput
                                 ? "    m = attention_mask.to(x.dtype).unsqueeze(2)\n"
                                   "    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)\n"
                                 : "    return x\n";
  module.define(fmt::format(R"(
def forward(self, input_ids, attention_mask):
    b = input_ids.size(0)
    n = input_ids.size(1)
    x = torch.embedding(self.word, input_ids) + self.position.narrow(0, 0, n).unsqueeze(0)
    x = torch.layer_norm(x, [{0}], self.embedding_norm_w, self.embedding_norm_b, 1e-12, False)
    bias = (1.0 - attention_mask.to(x.dtype)).unsqueeze(1).unsqueeze(2) * -10000.0
{1}{2}{3})",
                            h, layers, poison, result));
  module.save(path);
}

void writeCriticHead(const std::string& path, int64_t dim, uint64_t seed, bool column) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  torch::jit::Module module("CriticHead");
  const at::Tensor w = randomNormal(generator, {dim}, 1.0);
  module.register_parameter("w", column ? w.unsqueeze(1) : w, false);
  module.register_parameter("b", randomNormal(generator, {1}, 0.5), false);
  module.define(R"(
def forward(self, e):
    return torch.sigmoid(torch.matmul(e, self.w) + self.b) * 3.0
)");
  module.save(path);
}

void writeNanWhereHead(const std::string& path, double threshold, double severity) {
  torch::jit::Module module("NanWhereHead");
  module.define(fmt::format(R"(
def forward(self, e):
    first = e.select(1, 0)
    return torch.where(first > {}, torch.full_like(first, float('nan')),
                       torch.full_like(first, {}))
)",
                            fmt::format("{:.17g}", threshold), fmt::format("{:.17g}", severity)));
  module.save(path);
}

}  // namespace eleanor::testing
