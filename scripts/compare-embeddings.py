#!/usr/bin/env python3
"""Compares two embedding matrices row by row (.npy, same shape): e.g. a corpus built by
`eleanor-worker index` with a TorchScript model against PyTorch's reference.npy from
scripts/export-model.py random --texts. Prints the largest element difference and the lowest
row cosine; exits 1 when the difference exceeds --tolerance (default 1e-4: float32; use about
1e-2 for float16/bfloat16 runs)."""
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("ours")
parser.add_argument("reference")
parser.add_argument("--tolerance", type=float, default=1e-4)
args = parser.parse_args()
a, b = np.load(args.ours), np.load(args.reference)
if a.shape != b.shape:
    print(f"compare-embeddings: shapes differ: {args.ours} {a.shape}, {args.reference} {b.shape}")
    sys.exit(1)
diff = float(np.abs(a.astype(np.float64) - b).max())
cosine = float((a.astype(np.float64) * b).sum(1).min())
ok = diff <= args.tolerance
print(f"compare-embeddings: {a.shape[0]} x {a.shape[1]}: max |difference| {diff:.3g}, lowest "
      f"cosine {cosine:.6f} ({'within' if ok else 'OVER'} tolerance {args.tolerance:g})")
sys.exit(0 if ok else 1)
