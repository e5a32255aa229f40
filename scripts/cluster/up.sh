#!/usr/bin/env bash
# make cluster-up: a real single-node Kubernetes on this machine from the components
# `make cluster-tools` built: etcd, kube-apiserver (Node,RBAC authorizers, upstream
# default admission plus NodeRestriction), kube-controller-manager, kube-scheduler,
# containerd 1.6 + runc, kubelet (cgroupfs, failCgroupV1: false), a bridge CNI network,
# kube-proxy (iptables) and CoreDNS. Leaves it running and prints
# `export KUBECONFIG=...`. Idempotent: components already running are left alone.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=pki.sh
. "$CLUSTER_ROOT/scripts/cluster/pki.sh"
# shellcheck source=configs.sh
. "$CLUSTER_ROOT/scripts/cluster/configs.sh"

log() { echo "cluster-up: $*" >&2; }
die() { echo "cluster-up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, kubelet and kube-proxy manage the machine's cgroups and network)"
[ -f "$CLUSTER_TOOLS/.complete" ] || die "the cluster tools are not built: run 'make cluster-tools' ($CLUSTER_TOOLS)"
for c in containerd runc ctr iptables openssl; do command -v "$c" >/dev/null || die "$c is missing: run 'make cluster-tools'"; done
NODE_IP="$(node_ip)"
[ -n "$NODE_IP" ] || die "no global IPv4 address on this machine for the node (set BERTH_CLUSTER_NODE_IP)"
mkdir -p "$STATE/config" "$RUN" "$LOGS"
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

running() { local f="$RUN/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# start NAME CMD...: runs CMD in its own session with its log in $LOGS/NAME.log.
start() {
  local name="$1"; shift
  if running "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

# wait_for WHAT SECONDS CMD...: retries CMD until it succeeds; shows the log on failure.
wait_for() {
  local what="$1" secs="$2" log_name="$3"; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "cluster-up: $what not ready after ${secs}s; last lines of $LOGS/$log_name.log:" >&2
      tail -n 30 "$LOGS/$log_name.log" >&2 || true
      exit 1
    fi
    if [ -n "$log_name" ] && ! running "$log_name"; then
      echo "cluster-up: $log_name exited; last lines of $LOGS/$log_name.log:" >&2
      tail -n 30 "$LOGS/$log_name.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "$what ready after $(elapsed)s"
}

kubectl_admin() { "$KUBECTL" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }
KUBECTL="${KUBECTL:-$(command -v kubectl || echo "$CLUSTER_ROOT/.cache/k8s-tools/kubectl")}"
[ -x "$KUBECTL" ] || die "kubectl not found: run 'make k8s-tools'"

host_network() {
  # Pod -> Service traffic is DNATed on this machine and routed back onto the bridge;
  # bridged packets must pass iptables for kube-proxy's rules.
  [ -f "$RUN/ip_forward.orig" ] || sysctl -n net.ipv4.ip_forward > "$RUN/ip_forward.orig"
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 || die "bridged traffic cannot pass iptables (br_netfilter)"
  # Forwarding is for the cluster's own bridge only: nothing from the pod range leaves.
  if ! iptables -w -nL "$FORWARD_CHAIN" >/dev/null 2>&1; then
    iptables -w -N "$FORWARD_CHAIN"
    iptables -w -A "$FORWARD_CHAIN" -o "$CNI_BRIDGE" -j RETURN
    iptables -w -A "$FORWARD_CHAIN" -s "$POD_CIDR" -j DROP
    iptables -w -I FORWARD 1 -j "$FORWARD_CHAIN"
  fi
}

start_etcd() {
  start etcd "$BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --quota-backend-bytes 2147483648 --log-level warn
  wait_for etcd 60 etcd curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_control_plane() {
  local pki="$STATE/pki"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --profiling=false --v=1
  wait_for kube-apiserver 120 kube-apiserver kubectl_admin get --raw /readyz
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr "$POD_CIDR" --service-cluster-ip-range "$SERVICE_CIDR" \
    --controllers '*,bootstrapsigner,tokencleaner' --profiling=false --v=1
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

start_node() {
  start containerd containerd --config "$STATE/config/containerd.toml"
  wait_for containerd 60 containerd ctr --address "$CONTAINERD_SOCK" version
  # The sandbox image cannot be pulled: it is built here from pause.c.
  if ! ctr_k8s images ls -q | grep -qx "$PAUSE_IMAGE"; then
    "$CLUSTER_ROOT/scripts/cluster/images.sh" pause
  fi
  # Berth's images from an earlier 'make images' (a new containerd starts empty).
  "$CLUSTER_ROOT/scripts/cluster/images.sh" import
  start kubelet "$BIN/kubelet" --config "$STATE/config/kubelet.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
  start kube-proxy "$BIN/kube-proxy" --config "$STATE/config/kube-proxy.yaml" --v=1
  wait_for "node $NODE_NAME Ready" 180 kubelet \
    kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

host_network
pki_all
write_containerd_config
if grep -q runc-oom-clamp "$STATE/config/containerd.toml"; then
  log "this kernel refuses a negative oom_score_adj: pod sandboxes run with 0 instead of -998 (scripts/cluster/runc-oom-clamp)"
fi
write_kubelet_config
write_kube_proxy_config
start_etcd
start_control_plane
start_node
KUBECTL="$KUBECTL" "$CLUSTER_ROOT/scripts/cluster/coredns.sh"
cp "$STATE/admin.kubeconfig" "$STATE/kubeconfig"
kubectl_admin get nodes -o wide >&2
log "cluster up in $(elapsed)s; state in $STATE (make cluster-down stops it)"
echo "export KUBECONFIG=$STATE/kubeconfig"
