#!/usr/bin/env bash
# The TorchScript embedder equals PyTorch: scripts/export-model.py (random mode: a small BERT
# scripted by Debian's python3-torch, texts, and PyTorch's own mean-pooled embeddings of them)
# -> eleanor-worker index at W=2 with that model -> the corpus rows equal PyTorch's within
# float32 tolerance (scripts/compare-embeddings.py).
source "$(dirname "$0")/common.bash" "$@"

py=""
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c "import torch, numpy" 2>/dev/null; then py="$candidate"; break; fi
done
[ -n "$py" ] || fail "no python3 with torch and numpy: install python3-torch (scripts/setup.sh does)"

"$py" "$src/scripts/export-model.py" random "$work/model" --layers 2 --hidden 64 --heads 4 \
  --intermediate 128 --vocab-size 3000 --max-seq-len 64 --texts 200 --tokens 48 >/dev/null
ranks 2 "$bin/eleanor-worker" index --config "$config" --set logging.level=warn \
  --set embedder.type=torchscript --set embedder.model="$work/model/model.pt" \
  --set embedder.vocab="$work/model/vocab.txt" --set embedder.dim=64 --set embedder.max_seq_len=64 \
  --input "$work/model/texts.jsonl" --out "$work/corpus" >/dev/null
"$py" "$src/scripts/compare-embeddings.py" "$work/corpus/embeddings.npy" \
  "$work/model/reference.npy" --tolerance 1e-5
