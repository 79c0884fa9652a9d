#!/usr/bin/env python3
"""Exports a sentence-transformer to what `embedder.type: torchscript` loads.

  scripts/export-model.py hf MODEL OUT_DIR       a Hugging Face model (name or local folder):
      needs PyTorch and transformers (and the model files: downloaded by transformers, or a
      local folder). Writes OUT_DIR/model.pt (TorchScript: forward(input_ids, attention_mask)
      -> token embeddings B x L x D), OUT_DIR/vocab.txt (its WordPiece vocabulary) and prints
      the config lines to use (dim, pooling and lower-casing read from the model).
  scripts/export-model.py random OUT_DIR          a BERT of the given shape with random weights
      (default: all-MiniLM-L6-v2's shape: 6 layers, hidden 384, 12 heads, 30,522 tokens), with
      PyTorch only. With --texts N it also writes texts.jsonl (N texts of --tokens tokens each)
      and PyTorch's own embeddings of them, reference.npy (float32, mean-pooled, L2-normalised),
      so `eleanor-worker index --input texts.jsonl` can be compared with PyTorch
      (scripts/compare-embeddings.py) and timed next to it (--time: PyTorch's run, printed).

Only WordPiece (BERT-family) tokenizers are supported by the runner: bert, MiniLM, bge, e5,
gte; not SentencePiece or BPE models (T5, XLM-R, MPNet's fast tokenizer still has vocab.txt).
"""
import argparse
import json
import math
import os
import sys
import time


def fail(message):
    print(f"export-model: {message}", file=sys.stderr)
    sys.exit(1)


def config_lines(out_dir, dim, pooling, lower_case, max_seq_len):
    out = os.path.abspath(out_dir)
    return "\n".join([
        "embedder:",
        "  type: torchscript",
        f"  model: {out}/model.pt",
        f"  vocab: {out}/vocab.txt",
        f"  dim: {dim}",
        "  output: token",
        f"  pooling: {pooling}",
        f"  max_seq_len: {max_seq_len}",
        f"  lower_case: {'true' if lower_case else 'false'}",
    ])


def export_hf(args):
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as e:
        fail(f"{e}: the hf mode needs PyTorch and transformers (pip install torch transformers)")
    os.makedirs(args.out, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    written = tokenizer.save_vocabulary(args.out)
    vocab = os.path.join(args.out, "vocab.txt")
    if not any(os.path.basename(p) == "vocab.txt" for p in written):
        fail(f"{args.model} has no WordPiece vocab.txt (its tokenizer wrote {written}): the "
             "runner's tokenizer is BERT WordPiece only")
    model = AutoModel.from_pretrained(args.model, torchscript=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    example = tokenizer(["an example sentence to trace with", "a second, longer example "
                         "sentence so the two rows differ in length"],
                        padding=True, return_tensors="pt")
    with torch.no_grad():
        traced = torch.jit.trace(Encoder(model), (example["input_ids"],
                                                  example["attention_mask"]))
        # Tracing must not have frozen the sequence length: check another length.
        other = tokenizer(["short"], return_tensors="pt")
        expected = model(input_ids=other["input_ids"], attention_mask=other["attention_mask"])[0]
        got = traced(other["input_ids"], other["attention_mask"])
        if got.shape != expected.shape or (got - expected).abs().max().item() > 1e-4:
            fail("the traced model does not reproduce the model at another sequence length")
    traced.save(os.path.join(args.out, "model.pt"))

    # Pooling from a sentence-transformers folder (1_Pooling/config.json) when there is one.
    pooling = "mean"
    pooling_config = os.path.join(args.model, "1_Pooling", "config.json")
    if os.path.isfile(pooling_config):
        with open(pooling_config) as f:
            p = json.load(f)
        if p.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif not p.get("pooling_mode_mean_tokens", True):
            fail(f"{pooling_config}: only mean and cls pooling are supported")
    elif args.pooling:
        pooling = args.pooling
    lower_case = bool(getattr(tokenizer, "do_lower_case", True))
    max_len = min(args.max_seq_len, getattr(model.config, "max_position_embeddings", 512))
    print(f"wrote {args.out}/model.pt and {vocab}")
    print("config lines (config/eleanor.yaml):")
    print(config_lines(args.out, model.config.hidden_size, pooling, lower_case, max_len))


def random_vocabulary(size):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [chr(c) for c in range(33, 127)]
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    # Whole words "w00001" ...: a text of these tokenizes to exactly its words.
    n = 0
    while len(vocab) < size:
        n += 1
        vocab.append(f"w{n:05d}")
    return vocab


def export_random(args):
    try:
        import torch
    except ImportError as e:
        fail(f"{e}: the random mode needs PyTorch")

    torch.manual_seed(args.seed)

    class Layer(torch.nn.Module):
        def __init__(self, hidden, heads, intermediate):
            super().__init__()
            self.heads = heads
            self.qkv = torch.nn.Linear(hidden, 3 * hidden)
            self.out = torch.nn.Linear(hidden, hidden)
            self.norm1 = torch.nn.LayerNorm(hidden, eps=1e-12)
            self.up = torch.nn.Linear(hidden, intermediate)
            self.down = torch.nn.Linear(intermediate, hidden)
            self.norm2 = torch.nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x, bias):
            b, n, h = x.shape
            q, k, v = self.qkv(x).view(b, n, 3, self.heads, h // self.heads).permute(
                2, 0, 3, 1, 4).unbind(0)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(h // self.heads) + bias
            context = torch.matmul(torch.softmax(scores, -1), v).transpose(1, 2).reshape(b, n, h)
            x = self.norm1(x + self.out(context))
            return self.norm2(x + self.down(torch.nn.functional.gelu(self.up(x))))

    class Bert(torch.nn.Module):
        def __init__(self, vocab, hidden, layers, heads, intermediate, positions):
            super().__init__()
            self.word = torch.nn.Embedding(vocab, hidden)
            self.position = torch.nn.Embedding(positions, hidden)
            self.norm = torch.nn.LayerNorm(hidden, eps=1e-12)
            self.layers = torch.nn.ModuleList(
                [Layer(hidden, heads, intermediate) for _ in range(layers)])

        def forward(self, input_ids, attention_mask):
            n = input_ids.size(1)
            x = self.norm(self.word(input_ids) + self.position.weight[:n].unsqueeze(0))
            bias = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * -10000.0
            for layer in self.layers:
                x = layer(x, bias)
            return x

    os.makedirs(args.out, exist_ok=True)
    vocab = random_vocabulary(args.vocab_size)
    with open(os.path.join(args.out, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    model = Bert(len(vocab), args.hidden, args.layers, args.heads, args.intermediate,
                 max(args.max_seq_len, 512)).eval()
    with torch.no_grad():
        scripted = torch.jit.script(model)
    scripted.save(os.path.join(args.out, "model.pt"))
    print(f"wrote {args.out}/model.pt (random BERT: {args.layers} layers, hidden {args.hidden}, "
          f"{args.heads} heads, {len(vocab)} tokens) and vocab.txt")

    if args.texts:
        # Texts of whole-word tokens: [CLS] + (tokens - 2) words + [SEP] = `tokens` ids each.
        generator = torch.Generator().manual_seed(args.seed)
        words = torch.randint(1, len(vocab) - 134, (args.texts, args.tokens - 2),
                              generator=generator)
        with open(os.path.join(args.out, "texts.jsonl"), "w") as f:
            for i, row in enumerate(words.tolist()):
                f.write(json.dumps({"id": f"t{i:06d}",
                                    "text": " ".join(f"w{w:05d}" for w in row),
                                    "decision": "allow"}) + "\n")
        ids = torch.cat([torch.full((args.texts, 1), 2), words + 134,
                         torch.full((args.texts, 1), 3)], dim=1)
        mask = torch.ones_like(ids)
        device = "cuda" if args.time and torch.cuda.is_available() else "cpu"
        with torch.no_grad():
            out = scripted.to(device)(ids.to(device), mask.to(device)).float().mean(1)
            out = torch.nn.functional.normalize(out, dim=1)
        try:
            import numpy as np
            np.save(os.path.join(args.out, "reference.npy"), out.cpu().numpy().astype(np.float32))
            print(f"wrote texts.jsonl and reference.npy ({args.texts} texts x {args.tokens} "
                  "tokens)")
        except ImportError:
            print(f"wrote texts.jsonl ({args.texts} texts x {args.tokens} tokens); no numpy, so "
                  "no reference.npy")
        if args.time:
            time_pytorch(scripted, ids, mask, device)
    print("config lines (config/eleanor.yaml):")
    print(config_lines(args.out, args.hidden, "mean", True, args.max_seq_len))


def time_pytorch(module, ids, mask, device):
    import torch
    dtypes = [torch.float32] + ([torch.float16] if device == "cuda" else [])
    for dtype in dtypes:
        m = module.to(device=device, dtype=dtype) if dtype != torch.float32 else module.to(device)
        i, a = ids.to(device), mask.to(device)
        with torch.inference_mode():
            for _ in range(3):
                m(i, a)
            if device == "cuda":
                torch.cuda.synchronize()
            runs = []
            for _ in range(10):
                t0 = time.perf_counter()
                m(i, a).float().mean(1)
                if device == "cuda":
                    torch.cuda.synchronize()
                runs.append(time.perf_counter() - t0)
        runs.sort()
        print(f"pytorch {device} {str(dtype).replace('torch.', '')}: {ids.shape[0]} texts x "
              f"{ids.shape[1]} tokens in {runs[len(runs) // 2] * 1e3:.1f} ms (median of 10, "
              "ids given, no tokenization)")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    hf = sub.add_parser("hf", help="export a Hugging Face model")
    hf.add_argument("model", help="model name (e.g. sentence-transformers/all-MiniLM-L6-v2) or folder")
    hf.add_argument("out", help="output folder")
    hf.add_argument("--max-seq-len", type=int, default=256)
    hf.add_argument("--pooling", choices=["mean", "cls"],
                    help="when the model folder has no 1_Pooling/config.json (default mean)")
    rnd = sub.add_parser("random", help="a BERT of a given shape with random weights")
    rnd.add_argument("out", help="output folder")
    rnd.add_argument("--layers", type=int, default=6)
    rnd.add_argument("--hidden", type=int, default=384)
    rnd.add_argument("--heads", type=int, default=12)
    rnd.add_argument("--intermediate", type=int, default=1536)
    rnd.add_argument("--vocab-size", type=int, default=30522)
    rnd.add_argument("--max-seq-len", type=int, default=128)
    rnd.add_argument("--seed", type=int, default=0)
    rnd.add_argument("--texts", type=int, default=0, help="also write N texts and reference.npy")
    rnd.add_argument("--tokens", type=int, default=128, help="tokens per text, [CLS]/[SEP] included")
    rnd.add_argument("--time", action="store_true", help="time PyTorch's own run (GPU when present)")
    args = parser.parse_args()
    if args.mode == "hf":
        export_hf(args)
    else:
        if args.tokens < 3 or args.tokens > args.max_seq_len:
            fail(f"--tokens {args.tokens} must be in 3..--max-seq-len ({args.max_seq_len})")
        export_random(args)


if __name__ == "__main__":
    main()
