# shellcheck shell=bash
# Layout and addresses of the real single-node cluster (sourced by up.sh, down.sh, images.sh).
# Everything the cluster writes lives under $STATE (default .cache/cluster in the clone);
# delete it after `make cluster-down` to start from nothing.
CLUSTER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=versions.sh
. "$CLUSTER_ROOT/scripts/cluster/versions.sh"

STATE="${BERTH_CLUSTER_DIR:-$CLUSTER_ROOT/.cache/cluster}"
BIN="$CLUSTER_TOOLS/bin"
RUN="$STATE/run"
LOGS="$STATE/logs"
CONTAINERD_SOCK="$RUN/containerd.sock"
NODE_NAME="${BERTH_CLUSTER_NODE:-berth-node}"

# Pods and Services get addresses from ranges this cluster owns; pods reach nothing
# outside this machine (no masquerading, and forwarding out of the pod range is dropped).
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CNI_BRIDGE=berth-cni0
CNI_NETWORK=berth-cluster
APISERVER_PORT="${BERTH_CLUSTER_APISERVER_PORT:-6443}"
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_VERSION"
FORWARD_CHAIN=BERTH-CLUSTER-FWD

# The node's address: this machine's first global IPv4 address (the API server
# advertises it; pods reach it through their bridge gateway).
node_ip() {
  if [ -n "${BERTH_CLUSTER_NODE_IP:-}" ]; then echo "$BERTH_CLUSTER_NODE_IP"; return; fi
  ip -4 -o addr show scope global | awk '$2 != "'"$CNI_BRIDGE"'" { split($4, a, "/"); print a[1]; exit }'
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
