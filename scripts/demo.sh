#!/usr/bin/env bash
# The demo job: 2 local ranks, the built-in hashing embedder, the bundled sample data
# (data/sample: 2,000 precedents, 500 cases). Sets up and builds when needed, indexes the
# precedents into build/sample-corpus, runs the job through eleanor-launch and prints the
# decision counts and cases/s. Results land in build/demo-output/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== set-up and build (the first time installs packages and compiles: a few minutes)"
mkdir -p build
scripts/build.sh >build/demo-build.log 2>&1 || {
  tail -40 build/demo-build.log; echo "demo: the build failed (full log: build/demo-build.log)" >&2; exit 1; }
bin=build/bin
config=config/eleanor.yaml
corpus=build/sample-corpus

if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

if [ ! -f "$corpus/embeddings.npy" ] || [ data/sample/precedents.jsonl -nt "$corpus/embeddings.npy" ]; then
  echo "== indexing data/sample/precedents.jsonl into $corpus (2 ranks)"
  "$bin/eleanor-launch" --np 2 -- index --config "$config" \
    --input data/sample/precedents.jsonl --out "$corpus" --set logging.level=warn
fi

echo "== running the sample job on 2 ranks"
"$bin/eleanor-launch" --np 2 -- run --config "$config" --set logging.level=warn
