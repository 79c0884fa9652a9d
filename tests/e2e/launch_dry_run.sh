#!/usr/bin/env bash
# eleanor-launch --dry-run, the real binary reading this process's environment: mpirun with
# -H and a hostfile, one rank per GPU (nvidia-smi -L), srun inside a Slurm allocation when
# `srun --mpi=list` offers pmix (a stand-in srun answers), mpirun inside it otherwise. The
# exact argv each prints is compared whole.
source "$(dirname "$0")/common.bash" "$@"

# Whatever allocation, GPUs or ELEANOR_*/NCCL_*/OPENBLAS_* variables (forwarded to the ranks,
# so part of the command; a machine may set OPENBLAS_CORETYPE, say) the machine running the
# tests has, these cases set their own.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(SLURM_|ELEANOR_|NCCL_|OPENBLAS_|CUDA_VISIBLE_DEVICES$)' || true)
unset OMP_NUM_THREADS OMP_WAIT_POLICY
mkdir -p "$work/pmix" "$work/pmi2" "$work/gpus"
cat >"$work/pmix/srun" <<'SH'
#!/bin/sh
[ "$1" = --mpi=list ] || exit 9
printf 'MPI plugin types are...\n\tpmix\n\tnone\n\tpmi2\nspecific pmix plugin versions available: pmix_v4\n'
SH
cat >"$work/pmi2/srun" <<'SH'
#!/bin/sh
[ "$1" = --mpi=list ] || exit 9
printf 'MPI plugin types are...\n\tnone\n\tpmi2\n'
SH
cat >"$work/gpus/nvidia-smi" <<'SH'
#!/bin/sh
[ "$1" = -L ] || exit 9
echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)"
echo "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)"
SH
chmod +x "$work"/*/srun "$work/gpus/nvidia-smi"
printf 'node1 slots=2\nnode2 slots=2\n' >"$work/hosts"

launch="$bin/eleanor-launch"
worker="$(cd "$bin" && pwd)/eleanor-worker"
root=""; [ "$(id -u)" -eq 0 ] && root=" --allow-run-as-root"
args=(-- run --config job.yaml)

# same EXPECTED -- launcher args...: the dry run's stdout must be exactly EXPECTED.
same() {
  local expected="$1" out; shift 2
  out="$("$@" 2>"$work/stderr")" || { cat "$work/stderr" >&2; fail "exit $? from: $*"; }
  [ "$out" = "$expected" ] || fail "$(printf 'dry run of: %s\n  expected: %s\n  got:      %s' "$*" "$expected" "$out")"
}

same "mpirun -np 4 -H node1:2,node2:2$root --bind-to none -x OMP_NUM_THREADS=1 $worker run --config job.yaml" -- \
  "$launch" --np 4 -H node1:2,node2:2 --cpus-per-task 1 --gpus-per-node 0 --dry-run "${args[@]}"
same "mpirun -np 4 --hostfile $work/hosts$root --bind-to none -x OMP_NUM_THREADS=2 -x ELEANOR_X $worker run --config job.yaml" -- \
  env ELEANOR_X=1 "$launch" --np 4 --hostfile "$work/hosts" --cpus-per-task 2 --gpus-per-node 0 --dry-run "${args[@]}"

# Two GPUs here (nvidia-smi -L): one rank per GPU on each of the 2 hosts, without --np.
same "mpirun -np 4 --hostfile $work/hosts$root --map-by ppr:2:node --bind-to none -x OMP_NUM_THREADS=1 $worker run --config job.yaml" -- \
  env PATH="$work/gpus:$PATH" "$launch" --hostfile "$work/hosts" --cpus-per-task 1 --dry-run "${args[@]}"
grep -q "2 GPU(s) here: one rank per GPU" "$work/stderr" || fail "no note on the GPUs found"

# Inside an allocation (sbatch --ntasks=2 on a 2-CPU node): srun with pmix, else mpirun.
slurm=(env SLURM_JOB_ID=99 SLURM_NTASKS=2 SLURM_JOB_NUM_NODES=1 SLURM_CPUS_ON_NODE=2)
same "OMP_NUM_THREADS=1 srun --mpi=pmix --ntasks=2 --cpus-per-task=1 --kill-on-bad-exit=1 --export=ALL $worker run --config job.yaml" -- \
  "${slurm[@]}" PATH="$work/pmix:$PATH" "$launch" --dry-run "${args[@]}"
same "OMP_NUM_THREADS=1 srun --mpi=pmix --ntasks=2 --ntasks-per-node=2 --gpus-per-node=2 --gpu-bind=closest --cpus-per-task=1 --kill-on-bad-exit=1 --export=ALL $worker run --config job.yaml" -- \
  "${slurm[@]}" SLURM_GPUS_ON_NODE=2 PATH="$work/pmix:$PATH" "$launch" --dry-run "${args[@]}"
same "mpirun -np 2$root --bind-to none -x OMP_NUM_THREADS=1 $worker run --config job.yaml" -- \
  "${slurm[@]}" PATH="$work/pmi2:$PATH" "$launch" --dry-run "${args[@]}"
grep -q "offers none, pmi2 but no pmix" "$work/stderr" || fail "no note on the missing pmix"
same "mpirun -np 2$root --bind-to none -x OMP_NUM_THREADS=1 $worker run --config job.yaml" -- \
  "${slurm[@]}" "$launch" --srun "$work/no-such-srun" --dry-run "${args[@]}"
grep -q "could not be run: using mpirun inside the allocation" "$work/stderr" || fail "no note on the missing srun"

expect_fail 2 "--launcher srun needs a Slurm allocation" -- "$launch" --np 2 --launcher srun --dry-run "${args[@]}"
expect_fail 2 "run it once, from the batch script" -- \
  "${slurm[@]}" SLURM_STEP_NUM_TASKS=2 "$launch" --dry-run "${args[@]}"
expect_fail 2 "--np N is needed" -- "$launch" --gpus-per-node 0 --dry-run "${args[@]}"
echo "launch dry run: mpirun (-H, hostfile, GPUs) and srun/mpirun inside an allocation print the expected argv"
