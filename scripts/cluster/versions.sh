# Pinned versions of the real cluster's components (sourced by scripts/cluster/*.sh).
# Changing one changes the cache key, so a new build lands beside the old one.
KUBE_VERSION=v1.36.3        # k8s.io/kubernetes; staging modules k8s.io/* at v0.36.3
ETCD_VERSION=v3.6.16        # go.etcd.io/etcd/server/v3
COREDNS_VERSION=v1.15.0     # github.com/coredns/coredns (cluster DNS)
PAUSE_VERSION=3.10          # pause.c from k8s.io/kubernetes@$KUBE_VERSION/build/pause
# containerd, runc and the CNI plugins are Debian 12's packages (containerd 1.6): kubelet
# 1.36 still accepts a CRI without the RuntimeConfig RPC and falls back to its own
# cgroupDriver (the fallback is removed in 1.38).
GO_MIN=1.26.0

CLUSTER_TOOLS_KEY="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_coredns-${COREDNS_VERSION}_pause-${PAUSE_VERSION}"
CLUSTER_TOOLS_ROOT="${BERTH_CLUSTER_TOOLS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/cluster-tools}"
CLUSTER_TOOLS="$CLUSTER_TOOLS_ROOT/$CLUSTER_TOOLS_KEY"
