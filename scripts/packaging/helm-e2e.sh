#!/usr/bin/env bash
# helm install / uninstall against a real API server (a cluster, or `berth local`):
#   - `helm install --wait` brings the operator up (Deployment rolled out, Lease taken),
#   - an example BertModel is accepted by the CRD,
#   - `helm uninstall` leaves nothing of the release behind but the CRD, as Helm does.
#
# Opt-in, because it installs into whatever the kubeconfig points at:
#   BERTH_HELM_E2E_KUBECONFIG=/path/to/kubeconfig make helm-e2e
# Without that variable it prints SKIP and exits 0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
HELM="${HELM:-$CACHE/k8s-tools/helm}"
KUBECTL="${KUBECTL:-$CACHE/k8s-tools/kubectl}"
NS="${BERTH_HELM_E2E_NAMESPACE:-berth-e2e}"
RELEASE=berth-e2e

if [ -z "${BERTH_HELM_E2E_KUBECONFIG:-}" ]; then
  echo "helm-e2e: SKIP (set BERTH_HELM_E2E_KUBECONFIG to a cluster or 'berth local' kubeconfig to run it)"
  exit 0
fi
export KUBECONFIG="$BERTH_HELM_E2E_KUBECONFIG"
"$KUBECTL" version >/dev/null || { echo "helm-e2e: FAIL: the API server in $KUBECONFIG is not reachable"; exit 1; }

fail() { echo "helm-e2e: FAIL: $*"; exit 1; }
cleanup() { "$HELM" uninstall "$RELEASE" -n "$NS" --wait >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "helm-e2e: helm install $RELEASE into namespace $NS"
"$HELM" install "$RELEASE" "$ROOT/charts/berth" -n "$NS" --create-namespace --wait --timeout 3m \
  ${BERTH_HELM_E2E_VALUES:+-f "$BERTH_HELM_E2E_VALUES"}
"$KUBECTL" -n "$NS" rollout status deployment/"$RELEASE"-operator --timeout 2m
for _ in $(seq 60); do
  holder=$("$KUBECTL" -n "$NS" get lease berth-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
  [ -n "$holder" ] && break; sleep 2
done
[ -n "$holder" ] || fail "no replica took the Lease berth-operator"
echo "helm-e2e: operator up, leader $holder"
"$KUBECTL" get crd bertmodels.berth.dev >/dev/null || fail "CRD missing after install"
"$KUBECTL" apply --dry-run=server -f "$ROOT/deploy/examples/bertmodel-embedding.yaml" >/dev/null \
  || fail "the API server rejects deploy/examples/bertmodel-embedding.yaml"

echo "helm-e2e: helm uninstall"
"$HELM" uninstall "$RELEASE" -n "$NS" --wait
trap - EXIT
# Pods go through their graceful termination after their ReplicaSet is gone (on a real
# kubelet that takes seconds): wait for them rather than call them left behind.
leftovers() {
  "$KUBECTL" get all,serviceaccounts,roles,rolebindings,poddisruptionbudgets,networkpolicies,configmaps \
    -n "$NS" -l app.kubernetes.io/instance="$RELEASE" -o name 2>/dev/null || true
  "$KUBECTL" get clusterroles,clusterrolebindings -l app.kubernetes.io/instance="$RELEASE" -o name 2>/dev/null || true
}
for _ in $(seq 60); do left="$(leftovers)"; [ -z "$left" ] && break; sleep 1; done
[ -z "$left" ] || fail "left behind after uninstall: $left"
"$KUBECTL" get crd bertmodels.berth.dev >/dev/null || fail "helm uninstall removed the CRD (it must keep it)"
echo "helm-e2e: ok (install brought the operator up; uninstall left only the CRD)"
