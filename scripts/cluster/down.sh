#!/usr/bin/env bash
# make cluster-down: stops every process `make cluster-up` started (and the containers
# they ran), unmounts what they mounted and removes the network state they made: the
# CNI bridge and its veths, the pod network namespaces, kube-proxy's iptables rules,
# the forwarding guard, and the kubelet's pod cgroups. $STATE stays (the PKI, etcd's data
# and the imported images), so a later cluster-up is quick; `rm -rf` it to start over.
# Safe to run twice, and after a crash.
set -uo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log() { echo "cluster-down: $*" >&2; }

stop_pid() {
  local name="$1" f="$RUN/$1.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

# The kubelet first, so that nothing restarts the containers killed next.
stop_pid kube-proxy
stop_pid kubelet

# Containers: through containerd while it runs, then whatever is left in the pod cgroups
# (a container outlives a killed shim).
if [ -S "$CONTAINERD_SOCK" ] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
  sleep 0.5
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks delete -f "$id" >/dev/null 2>&1; done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do ctr_k8s containers delete "$id" >/dev/null 2>&1; done
fi
stop_pid containerd
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
for ctl in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
  [ -d "$ctl" ] || continue
  find "$ctl" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
done
sleep 0.3

stop_pid kube-scheduler
stop_pid kube-controller-manager
stop_pid kube-apiserver
stop_pid etcd

# Mounts under the state folder (volumes, container root filesystems, shm), deepest first.
findmnt -rn -o TARGET | grep -F "$STATE/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done

# Pod network namespaces made by containerd's CRI for this cluster's sandboxes.
for ns in /var/run/netns/cni-*; do
  [ -e "$ns" ] && { ip netns delete "$(basename "$ns")" 2>/dev/null || { umount -l "$ns"; rm -f "$ns"; }; }
done
if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  for v in $(ip -o link show master "$CNI_BRIDGE" | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do ip link delete "$v" 2>/dev/null; done
  ip link delete "$CNI_BRIDGE" && log "removed bridge $CNI_BRIDGE"
fi
rm -rf "$STATE/cni/ipam" /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null

# kube-proxy's chains, then the forwarding guard, then the sysctl as it was.
if [ -x "$BIN/kube-proxy" ]; then "$BIN/kube-proxy" --cleanup >/dev/null 2>&1; fi
# The kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY) and whatever KUBE-* chain
# is left, in IPv4 and IPv6: first the rules that jump to them, then the chains.
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle; do
    "$ipt" -w -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -Ev '^-A KUBE-' \
      | sed 's/^-A /-D /' | while read -r rule; do eval "$ipt -w -t $table $rule" 2>/dev/null; done
    for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
      "$ipt" -w -t "$table" -F "$chain" 2>/dev/null
    done
    for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
      "$ipt" -w -t "$table" -X "$chain" 2>/dev/null
    done
  done
done
if iptables -w -nL "$FORWARD_CHAIN" >/dev/null 2>&1; then
  while iptables -w -D FORWARD -j "$FORWARD_CHAIN" 2>/dev/null; do :; done
  iptables -w -F "$FORWARD_CHAIN" && iptables -w -X "$FORWARD_CHAIN"
fi
if [ -f "$RUN/ip_forward.orig" ]; then
  sysctl -qw net.ipv4.ip_forward="$(cat "$RUN/ip_forward.orig")"
  rm -f "$RUN/ip_forward.orig"
fi

# The kubelet's QoS and pod cgroups (empty now), leaves first.
for ctl in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
  [ -d "$ctl" ] && find "$ctl" -depth -type d -exec rmdir {} + 2>/dev/null
done

left="$(pgrep -af "$CLUSTER_TOOLS/bin/|containerd --config $STATE/|containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true)"
if [ -n "$left" ]; then log "processes still running:"; echo "$left" >&2; exit 1; fi
if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then log "bridge $CNI_BRIDGE still exists"; exit 1; fi
if iptables -w -S 2>/dev/null | grep -q -- '-N KUBE-\|-N '"$FORWARD_CHAIN"; then log "iptables chains left:"; iptables -w -S | grep -- '-N ' >&2; exit 1; fi
log "stopped; state kept in $STATE (delete it to start from nothing)"
