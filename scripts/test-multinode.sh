#!/usr/bin/env bash
# The sample job across several "nodes" over TCP gives the same results as on one node.
#
# The nodes are network namespaces on this machine (scripts/netns-cluster.bash): node1..node3
# at 10.77.0.1..3 on one bridge, each with its own hostname; Open MPI reaches them through an
# rsh agent that enters the namespace (no sshd), uses only TCP (btl self,tcp) on that subnet.
# eleanor-launch starts, from node1:
#   1. 2 ranks on 2 nodes with --hostfile (one rank per node),
#   2. 4 ranks on 3 nodes with -H node1:1,node2:2,node3:1 (uneven),
# and results.jsonl of each must be byte-identical to a 2-rank run on this machine, and
# report.json must name the nodes the ranks ran on;
#   3. doctor on the ranks of 2.: a row for each host, no problem; with the input in a folder
#      that is node1's alone (node2 and node3 see an empty one there), a PROBLEM for each of
#      node2 and node3, and the run stops naming rank 1 on node2 and the file;
#   4. index on the ranks of 2.: the corpus must equal the one 2 local ranks built;
#   5. the job of 1. slowed, stopped after two rounds by SIGUSR1 to eleanor-launch (mpirun
#      forwards it to the ranks on both nodes): exit 75, then --resume ends byte-identical.
# The namespaces are removed on exit.
#
# Usage: scripts/test-multinode.sh [BIN_DIR]   (default: build with scripts/build.sh, build/bin)
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or no network namespaces here).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/sample-job.bash"
bin="$(eleanor_bin_dir "${1:-}")"
say() { echo "test-multinode: [${SECONDS}s] $*"; }
fail() { echo "test-multinode: FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: test-multinode.sh creates network namespaces and needs root"
  exit 77
fi
if ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
  echo "SKIP: needs ip (iproute2) and unshare (util-linux)"
  exit 77
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/eleanor-multinode.XXXXXX")"
# shellcheck source=scripts/netns-cluster.bash
source "$root/scripts/netns-cluster.bash"
trap 'netns_cluster_down; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
if ! ip netns add "eleanor-$$-probe" 2>/dev/null; then
  echo "SKIP: this machine does not let us create network namespaces (ip netns add)"
  exit 77
fi
ip netns del "eleanor-$$-probe"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
sample_reference "$tmp" "$tmp/out-local"
say "single-node reference run done"

netns_cluster_up 3 "$tmp" || fail "could not build the namespace cluster"
say "3 nodes up: $(awk '{ printf "%s=%s ", $3, $1 }' "$tmp/netns-hosts")"

# across NAME HOSTS... -- LAUNCH ARGS: eleanor-launch on node1 with ARGS; the run must give
# the local run's results, on exactly the nodes HOSTS (in rank order).
across() {
  local name="$1" hosts=() started=$SECONDS
  shift
  while [ "$1" != -- ]; do hosts+=("$1"); shift; done
  shift
  netns_cluster_run 1 timeout 180 "$bin/eleanor-launch" --gpus-per-node 0 --cpus-per-task 1 "$@" \
    -- "${job_args[@]}" --set job.output="$tmp/out-$name" >"$tmp/$name.log" 2>&1 ||
    { tail -40 "$tmp/$name.log" >&2; fail "$name: the run failed (124: still running after 180 s)"; }
  cmp "$tmp/out-local/results.jsonl" "$tmp/out-$name/results.jsonl" ||
    fail "$name: results.jsonl differs from the single-node run's"
  python3 - "$tmp/out-$name/report.json" "${hosts[@]}" <<'PY' || fail "$name: report.json"
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2:]
assert r["hosts"] == want, f"ranks ran on {r['hosts']}, expected {want}"
assert r["world_size"] == len(want) and r["counts"]["results"] == 500, r["counts"]
PY
  say "$name: $(head -1 "$tmp/$name.log")"
  say "$name: ranks on $(IFS=,; echo "${hosts[*]}"): results.jsonl identical ($((SECONDS - started)) s)"
}

across two-nodes node1 node2 -- --np 2 --hostfile "$tmp/hostfile"
across three-nodes node1 node2 node2 node3 -- --np 4 -H 10.77.0.1:1,10.77.0.2:2,10.77.0.3:1

# doctor on the ranks of three-nodes: the first rank of node2 and of node3 checks the job's files
# and its host where it runs; one row a host, no problem. Then the input in a folder each node has
# its own of (the agent mounts an empty tmpfs over it on node2 and node3, as a node's /tmp is):
# doctor names both hosts that cannot see it, and the run itself stops naming rank 1 and the file.
started=$SECONDS
doctor_across() {
  netns_cluster_run 1 timeout 120 "$bin/eleanor-launch" --gpus-per-node 0 --cpus-per-task 1 --np 4 \
    -H 10.77.0.1:1,10.77.0.2:2,10.77.0.3:1 -- doctor "${job_args[@]:1}" --set job.output="$tmp/out-doctor" "$@"
}
doctor_across >"$tmp/doctor.log" 2>&1 || { tail -30 "$tmp/doctor.log" >&2; fail "doctor across nodes found a problem"; }
for row in "host node1 +rank\(s\) 0: [0-9]+ cores, .* \(rank 0's host: the others are compared with it\)" \
  "host node2 +rank\(s\) 1-2: " "host node3 +rank\(s\) 3: " "build +eleanor-dist .*, on every rank"; do
  grep -qE "^  $row" "$tmp/doctor.log" || { cat "$tmp/doctor.log" >&2; fail "doctor across nodes: no row '$row'"; }
done
mkdir "$tmp/node-local"
cp "$root/data/sample/cases.jsonl" "$tmp/node-local/"
rc=0
NETNS_CLUSTER_NODE_LOCAL="$tmp/node-local" doctor_across --set job.input="$tmp/node-local/cases.jsonl" \
  >"$tmp/doctor-local.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { tail -30 "$tmp/doctor-local.log" >&2; fail "doctor with a node-local input: exit $rc, expected 1"; }
for node in node2 node3; do
  grep -qF "  host $node     PROBLEM: cannot see '$tmp/node-local/cases.jsonl' (job.input) here: No such file or directory" \
    "$tmp/doctor-local.log" || { cat "$tmp/doctor-local.log" >&2; fail "doctor does not name $node's missing input"; }
done
! grep -q "host node1 *PROBLEM" "$tmp/doctor-local.log" || fail "doctor: node1 sees the input"
grep -q "^2 problem(s) found" "$tmp/doctor-local.log" || fail "doctor: $(tail -1 "$tmp/doctor-local.log")"
rc=0
NETNS_CLUSTER_NODE_LOCAL="$tmp/node-local" netns_cluster_run 1 timeout 120 "$bin/eleanor-launch" \
  --gpus-per-node 0 --cpus-per-task 1 --np 4 -H 10.77.0.1:1,10.77.0.2:2,10.77.0.3:1 -- "${job_args[@]}" \
  --set job.input="$tmp/node-local/cases.jsonl" --set job.output="$tmp/out-local-input" >"$tmp/local-input.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -qF "rank 1/4 (node2) failed in stage 'setup': cannot open '$tmp/node-local/cases.jsonl'" \
  "$tmp/local-input.log" || { tail -20 "$tmp/local-input.log" >&2; fail "the run with a node-local input: exit $rc"; }
say "doctor: 4 ranks on 3 nodes, each host checked where it runs; a node-local input is a PROBLEM on node2 and node3 ($((SECONDS - started)) s)"

# index on the same 4 ranks over 3 nodes: each rank stages its part in the shared output folder
# and writes it at its offset; the corpus must equal the one 2 local ranks built.
started=$SECONDS
netns_cluster_run 1 timeout 180 "$bin/eleanor-launch" --gpus-per-node 0 --cpus-per-task 1 --np 4 \
  -H 10.77.0.1:1,10.77.0.2:2,10.77.0.3:1 -- index --config "$root/config/eleanor.yaml" \
  --input "$root/data/sample/precedents.jsonl" --out "$tmp/corpus-nodes" --set job.batch_size=100 \
  --set logging.level=warn >"$tmp/index-nodes.log" 2>&1 ||
  { tail -20 "$tmp/index-nodes.log" >&2; fail "index across nodes failed"; }
for f in embeddings.npy meta.jsonl errors.jsonl; do
  cmp "$tmp/corpus/$f" "$tmp/corpus-nodes/$f" || fail "index across nodes: $f differs from the local build's"
done
say "index: 4 ranks on 3 nodes built the local build's corpus ($((SECONDS - started)) s)"

# A stop across nodes: SIGUSR1 to eleanor-launch (mpirun by then) reaches the ranks on both
# nodes through Open MPI's daemons; they stop at a round's end with exit 75 and the resume
# finishes with the single-node run's bytes.
started=$SECONDS
stop_args=(--set job.batch_size=8 --set logging.level=info --set logging.progress_interval_s=0.1)
ELEANOR_FAULT_ROUND_DELAY_MS=300 netns_cluster_run 1 timeout 180 "$bin/eleanor-launch" \
  --gpus-per-node 0 --cpus-per-task 1 --np 2 --hostfile "$tmp/hostfile" -- "${job_args[@]}" \
  --set job.output="$tmp/out-stopped" "${stop_args[@]}" >"$tmp/stopped.log" 2>&1 &
launched=$!
wait_progress "$tmp/stopped.log" 32 120  # two rounds: 2 ranks x 8 cases each
pid="$(launch_stop_pid "$tmp/stopped.log")"
kill -USR1 "$pid"
rc=0
wait "$launched" || rc=$?
[ "$rc" -eq 75 ] || { tail -20 "$tmp/stopped.log" >&2; fail "stop: exit $rc, expected 75"; }
grep -q "stopped on SIGUSR1: [0-9]* of 500 lines are done" "$tmp/stopped.log" ||
  { tail -20 "$tmp/stopped.log" >&2; fail "stop: rank 0 did not say what it committed"; }
netns_cluster_run 1 timeout 180 "$bin/eleanor-launch" --gpus-per-node 0 --cpus-per-task 1 --np 2 \
  --hostfile "$tmp/hostfile" -- "${job_args[@]}" --set job.output="$tmp/out-stopped" \
  "${stop_args[@]}" --resume >"$tmp/resumed.log" 2>&1 ||
  { tail -20 "$tmp/resumed.log" >&2; fail "stop: the resume failed"; }
cmp "$tmp/out-local/results.jsonl" "$tmp/out-stopped/results.jsonl" ||
  fail "stop: the resumed results.jsonl differs from the single-node run's"
say "stop: SIGUSR1 to eleanor-launch stopped both nodes' ranks ($(grep -o "[0-9]* of 500 lines" \
  "$tmp/stopped.log" | head -1) done, exit 75); the resume is identical ($((SECONDS - started)) s)"
say "PASS"
