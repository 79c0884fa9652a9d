#!/usr/bin/env bash
# A corpus whose shards do not fit the ranks' memory stops at load, naming the shard, what it
# takes, what each rank may take and why (MemAvailable, or the job's memory cgroup: Slurm's
# --mem), instead of being read until the kernel kills a rank. The corpora are sparse files:
# their size costs no disk, and their rows are never read. doctor says the same before a job
# is queued.
source "$(dirname "$0")/common.bash" "$@"

# sparse_corpus DIR ROWS DIM: an embeddings.npy of ROWS x DIM float32 holes, and a meta.jsonl of
# ROWS lines.
sparse_corpus() {
  mkdir -p "$1"
  python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
folder, rows, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, dim)
header += " " * (-(10 + len(header) + 1) % 64) + "\n"
with open(folder + "/embeddings.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.truncate(f.tell() + rows * dim * 4)
with open(folder + "/meta.jsonl", "w") as f:
    f.write('{"id": "p", "decision": "allow"}\n' * rows)
PY
}

# 1. Larger than the machine: 3x MemAvailable on 2 ranks. Wide rows keep meta.jsonl short.
available_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
dim=16384
rows=$(( available_kb * 1024 * 3 / (dim * 4) ))  # 3x MemAvailable: 1.5x per rank
sparse_corpus "$work/huge" "$rows" "$dim"
job=(run --config "$config" --set embedder.dim=$dim --set job.precedents="$work/huge")
half=$(( (rows + 1) / 2 ))
expect_fail 2 "this rank's shard of '$work/huge/embeddings.npy' \(($half|$((rows / 2))) of $rows precedents x $dim dims\) takes [0-9.]+ GiB of host memory once loaded, but this rank may take [0-9.]+ GiB: MemAvailable leaves [0-9.]+ GiB to the 2 rank\(s\) on this host.* run on more nodes, fewer ranks per node, or ask for more memory \(sbatch --mem\) \(where the memory is there after all, e.g. in swap, job.check_memory: false loads it\)" -- \
  ranks 2 "$bin/eleanor-worker" "${job[@]}" --set job.output="$work/out-huge"
[ ! -e "$work/out-huge/results.jsonl" ] || fail "a job whose shards do not fit wrote results"
out=$("$bin/eleanor-worker" doctor --config "$config" --set embedder.dim=$dim \
  --set job.precedents="$work/huge" --set job.output="$work/doctor-out" 2>&1) &&
  fail "doctor found no problem in a corpus 3x the memory"
grep -q "^  corpus  *PROBLEM: this rank's shard of '$work/huge/embeddings.npy' ($rows of $rows precedents" <<<"$out" ||
  fail "doctor's corpus row: $(grep corpus <<<"$out")"
grep -q "^  Host memory  *[0-9.]* GiB available (MemAvailable), shared by this host's 1 rank(s)" <<<"$out" ||
  fail "doctor's host memory row: $(grep 'Host memory' <<<"$out")"
# The check can be turned off (swap; a limit it misreads): doctor then names no problem.
out=$("$bin/eleanor-worker" doctor --config "$config" --set embedder.dim=$dim --set job.check_memory=false \
  --set job.precedents="$work/huge" --set job.output="$work/doctor-out" 2>&1) ||
  { echo "$out" >&2; fail "doctor found a problem with job.check_memory: false"; }
grep -q "^  corpus  *$work/huge: $rows precedents x $dim dims, .* (job.check_memory: false: not checked)" <<<"$out" ||
  fail "doctor's corpus row with job.check_memory: false: $(grep corpus <<<"$out")"
echo "host memory: a corpus 3x MemAvailable stops at load and in doctor (unless job.check_memory: false)"

# 2. Larger than the job's memory cgroup (what Slurm's --mem makes): a 3 GiB group of our own
# under this process's (v2, or v1's memory hierarchy), where the machine lets us make one.
group=""
own_v2=$(sed -n 's/^0:://p' /proc/self/cgroup)
own_v1=$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}memory\(,[^:]*\)\{0,1\}://p' /proc/self/cgroup)
if [ -n "$own_v1" ] && [ -w "/sys/fs/cgroup/memory$own_v1" ]; then
  group="/sys/fs/cgroup/memory$own_v1/eleanor-e2e-$$" limit_file=memory.limit_in_bytes
elif [ -n "$own_v2" ] && [ -f "/sys/fs/cgroup$own_v2/memory.max" ] && [ -w "/sys/fs/cgroup$own_v2" ]; then
  group="/sys/fs/cgroup${own_v2%/}/eleanor-e2e-$$" limit_file=memory.max
fi
if [ -z "$group" ] || ! mkdir "$group" 2>/dev/null || ! echo $((3 << 30)) >"$group/$limit_file" 2>/dev/null; then
  [ -n "$group" ] && rmdir "$group" 2>/dev/null
  echo "host memory: SKIPPED the cgroup part: this machine does not let the test make a memory cgroup"
  exit 0
fi
trap 'rmdir "$group" 2>/dev/null; rm -rf "$work"' EXIT
in_group() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$group" "$@"; }
# 4 GiB of rows: 2 GiB per rank, against half of 3 GiB less what mpirun and the workers hold.
rows=$(( (4 << 30) / (dim * 4) ))
sparse_corpus "$work/big" "$rows" "$dim"
job=(run --config "$config" --set embedder.dim=$dim --set job.precedents="$work/big")
name="${group#/sys/fs/cgroup}"; name="${name#/memory}"
expect_fail 2 "this rank's shard of '$work/big/embeddings.npy' \($((rows / 2)) of $rows precedents x $dim dims\) takes 2\.[0-9]+ GiB of host memory once loaded, but this rank may take [0-9.]+ [GM]iB: the memory cgroup '$name' \($limit_file 3\.00 GiB, [0-9.]+ [GM]iB in use\) leaves" -- \
  in_group mpirun -np 2 --oversubscribe --bind-to none "$bin/eleanor-worker" "${job[@]}" --set job.output="$work/out-big"
out=$(in_group "$bin/eleanor-worker" doctor --config "$config" --set embedder.dim=$dim \
  --set job.precedents="$work/big" --set job.output="$work/doctor-out" 2>&1) || true
grep -q "^  Host memory  *[0-9.]* GiB available (the memory cgroup '$name' ($limit_file 3.00 GiB" <<<"$out" ||
  fail "doctor's host memory row in a 3 GiB cgroup: $(grep 'Host memory' <<<"$out")"
grep -q "^  corpus  *PROBLEM: this rank's shard of '$work/big/embeddings.npy' ($rows of $rows precedents" <<<"$out" ||
  fail "doctor's corpus row in a 3 GiB cgroup: $(grep corpus <<<"$out")"
echo "host memory: a corpus of 2 GiB per rank stops at load and in doctor in a 3 GiB memory cgroup"
