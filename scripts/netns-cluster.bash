# A cluster of test hosts on this machine, made of Linux network namespaces: sourced, not run.
# Used by scripts/test-multinode.sh; fault tests can use it the same way. Needs root and
# iproute2; every address lives inside the namespaces (nothing is added to this machine's
# own network).
#
#   source scripts/netns-cluster.bash
#   netns_cluster_up 3 "$workdir"    # hosts node1..node3 = 10.77.0.1..3, all on one bridge
#   netns_cluster_run 1 mpirun --hostfile "$NETNS_CLUSTER_HOSTFILE" ...   # on node1
#   netns_cluster_down               # also from an EXIT trap: removes every namespace made
#
# Each host is a namespace with its loopback and an eth0 on the bridge of a "switch"
# namespace. Processes on a host also get their own UTS namespace with hostname nodeK, so
# Open MPI (and the worker's report) see K distinct nodes, which talk over TCP. Where
# NETNS_CLUSTER_NODE_LOCAL names a folder in mpirun's environment, the agent mounts an empty
# tmpfs over it on each host it enters (its mount namespace only), so what mpirun's host holds
# there is on that node alone, as in a node's /tmp or local scratch. Open MPI
# starts its daemons on the other hosts through $NETNS_CLUSTER_AGENT, an rsh agent that
# enters the host's namespaces instead of ssh-ing to it; netns_cluster_up exports the MCA
# variables that make mpirun use it and keep its traffic on the cluster's subnet.

# shellcheck disable=SC2034 # NETNS_CLUSTER_* are read by the scripts that source this file
NETNS_CLUSTER_SUBNET=10.77.0       # host K is $NETNS_CLUSTER_SUBNET.K/24
NETNS_CLUSTER_NAMESPACES=()        # made by this shell, removed by netns_cluster_down

# netns_cluster_up N DIR: N hosts (1..250); the agent and the hostfile are written to DIR.
# Namespace names carry this shell's pid, so concurrent clusters do not meet.
netns_cluster_up() {
  local count="$1" dir="$2" prefix="eleanor-$$" k ns
  local switch="$prefix-sw"
  ip netns add "$switch" || return 1
  NETNS_CLUSTER_NAMESPACES+=("$switch")
  ip -n "$switch" link add br0 type bridge &&
    ip -n "$switch" link set br0 up || return 1
  : >"$dir/netns-hosts"
  : >"$dir/hostfile"
  for k in $(seq "$count"); do
    ns="$prefix-n$k"
    ip netns add "$ns" || return 1
    NETNS_CLUSTER_NAMESPACES+=("$ns")
    ip link add eth0 netns "$ns" type veth peer name "port$k" netns "$switch" &&
      ip -n "$switch" link set "port$k" master br0 &&
      ip -n "$switch" link set "port$k" up &&
      ip -n "$ns" addr add "$NETNS_CLUSTER_SUBNET.$k/24" dev eth0 &&
      ip -n "$ns" link set eth0 up &&
      ip -n "$ns" link set lo up || return 1
    echo "$NETNS_CLUSTER_SUBNET.$k $ns node$k" >>"$dir/netns-hosts"
    echo "$NETNS_CLUSTER_SUBNET.$k slots=1" >>"$dir/hostfile"
  done
  NETNS_CLUSTER_HOSTS_FILE="$dir/netns-hosts"
  NETNS_CLUSTER_HOSTFILE="$dir/hostfile"
  NETNS_CLUSTER_AGENT="$dir/netns-rsh"
  # The rsh agent: "netns-rsh [ssh options] HOST COMMAND..." runs COMMAND (a shell command
  # line, as ssh would) on HOST: its network namespace, its own hostname.
  cat >"$NETNS_CLUSTER_AGENT" <<AGENT
#!/bin/sh
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
host="\$1"; shift
set -- "\$(awk -v h="\$host" '\$1 == h || \$3 == h { print \$2, \$3 }' "$dir/netns-hosts")" "\$@"
[ -n "\$1" ] || { echo "netns-rsh: unknown host '\$host'" >&2; exit 255; }
ns="\${1% *}"; name="\${1#* }"; shift
exec ip netns exec "\$ns" unshare --uts /bin/sh -c 'hostname "\$0" && { [ -z "\$NETNS_CLUSTER_NODE_LOCAL" ] || mount -t tmpfs node-local "\$NETNS_CLUSTER_NODE_LOCAL"; } && exec /bin/sh -c "\$*"' "\$name" "\$@"
AGENT
  chmod +x "$NETNS_CLUSTER_AGENT"
  # mpirun reads these; its daemons and ranks inherit them through the agent.
  export OMPI_MCA_plm_rsh_agent="$NETNS_CLUSTER_AGENT"
  export OMPI_MCA_btl=self,tcp
  export OMPI_MCA_btl_tcp_if_include="$NETNS_CLUSTER_SUBNET.0/24"
  export OMPI_MCA_oob_tcp_if_include="$NETNS_CLUSTER_SUBNET.0/24"
  # Every host answers within a few seconds, or the set-up failed. "Connection refused" from
  # a port nobody listens on proves the path; a timeout does not.
  local tries
  for k in $(seq 2 "$count"); do
    for tries in $(seq 50); do
      local answer
      answer="$(ip netns exec "$prefix-n1" timeout 1 bash -c \
        "exec 3<>/dev/tcp/$NETNS_CLUSTER_SUBNET.$k/9" 2>&1 || true)"
      [[ "$answer" == *refused* ]] && break
      [ "$tries" -lt 50 ] || { echo "netns-cluster: node$k unreachable from node1" >&2; return 1; }
      sleep 0.1
    done
  done
}

# netns_cluster_run K COMMAND...: COMMAND on host K (its namespace, hostname nodeK).
netns_cluster_run() {
  local k="$1"
  shift
  # shellcheck disable=SC2016 # expanded by the inner shell
  ip netns exec "eleanor-$$-n$k" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "node$k" "$@"
}

# Removes the namespaces this shell made (their veths and bridge go with them). Processes
# still inside them are killed first: a namespace is only freed when its last one exits.
netns_cluster_down() {
  local ns pids
  for ns in "${NETNS_CLUSTER_NAMESPACES[@]}"; do
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    # shellcheck disable=SC2086 # one pid a word
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
  done
  NETNS_CLUSTER_NAMESPACES=()
}
