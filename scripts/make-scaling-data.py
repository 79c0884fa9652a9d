#!/usr/bin/env python3
"""Bigger inputs for the scaling benchmark, made from the bundled sample.

    python3 scripts/make-scaling-data.py --cases N --precedents M --out DIR [--sample data/sample]

Writes DIR/cases.jsonl (N cases) and DIR/precedents.jsonl (M precedents) by cycling through
the sample's lines. Copy k >= 1 of a line gets the id "<id>-k" and " (variant k)" appended to
its text, so every line embeds to its own vector (no embedding-cache hits, no exact-duplicate
precedents) while the critics see the same patterns as in the sample. Deterministic; Python 3
standard library only. Index the precedents with `eleanor-worker index` as usual.
"""
import argparse
import json
import os


def cycle(path, count):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for i in range(count):
        row = dict(rows[i % len(rows)])
        copy = i // len(rows)
        if copy:
            row["id"] = f"{row['id']}-{copy}"
            row["text"] = f"{row['text']} (variant {copy})"
        yield row


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, required=True)
    parser.add_argument("--precedents", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sample", default=os.path.join(os.path.dirname(__file__), "..", "data", "sample"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write(os.path.join(args.out, "cases.jsonl"), cycle(os.path.join(args.sample, "cases.jsonl"), args.cases))
    write(os.path.join(args.out, "precedents.jsonl"),
          cycle(os.path.join(args.sample, "precedents.jsonl"), args.precedents))


if __name__ == "__main__":
    main()
