#!/usr/bin/env bash
# The chart's per-namespace mode on a cluster that enforces RBAC (make e2e-cluster):
# `helm upgrade --set watchNamespaces={NS}` gives the operator a Role in NS and no
# ClusterRole; a BertModel in NS (the tiny model from a hostPath PersistentVolume)
# becomes Ready; one in another namespace is left alone; the operator cannot read
# Deployments outside NS. Restores the cluster-wide mode at the end.
# Prints one line per check and "N passed, M failed".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KUBECTL="${KUBECTL:-$ROOT/.cache/k8s-tools/kubectl}"
HELM="${HELM:-$ROOT/.cache/k8s-tools/helm}"
VALUES="${VALUES:?set VALUES (.cache/images/values.yaml)}"
HOST_MODELS="${HOST_MODELS:?set HOST_MODELS (a host directory for hostPath volumes)}"
TINY="${TINY:-$ROOT/.cache/models/tiny/1}"
OPERATOR_SA=system:serviceaccount:berth-system:berth-operator
NS=e2e-nsmode OTHER=e2e-nsmode-other
k() { "$KUBECTL" "$@"; }
passed=0 failed=0
check() {
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1: expected '$2', got '$3'"; fi
}
cleanup() {
  k delete namespace "$NS" "$OTHER" --ignore-not-found --wait=false >/dev/null 2>&1
  k delete pv "$NS-models" --ignore-not-found --wait=false >/dev/null 2>&1
  "$HELM" upgrade berth "$ROOT/charts/berth" -n berth-system -f "$VALUES" --wait --timeout 3m >/dev/null
  rm -rf "${HOST_MODELS:?}/$NS"
}
trap cleanup EXIT

[ -f "$TINY/model.onnx" ] || { echo "e2e-namespaced: $TINY is missing: make models"; exit 1; }
mkdir -p "$HOST_MODELS/$NS/1" && cp "$TINY"/* "$HOST_MODELS/$NS/1/" && chmod -R a+rX "$HOST_MODELS/$NS"
k create namespace "$NS" >/dev/null; k create namespace "$OTHER" >/dev/null
t0=$(date +%s)
"$HELM" upgrade berth "$ROOT/charts/berth" -n berth-system -f "$VALUES" --set "watchNamespaces={$NS}" \
  --wait --timeout 3m >/dev/null || { echo "FAIL helm upgrade --set watchNamespaces={$NS}"; exit 1; }
k -n berth-system rollout status deployment/berth-operator --timeout 2m >/dev/null
check "no ClusterRole for the operator's workloads" "" \
  "$(k get clusterrolebinding berth-operator -o name --ignore-not-found)"
check "operator: list Deployments in $NS" yes "$(k auth can-i list deployments.apps -n "$NS" --as "$OPERATOR_SA" | head -1)"
check "operator: list Deployments in $OTHER" no "$(k auth can-i list deployments.apps -n "$OTHER" --as "$OPERATOR_SA" 2>/dev/null | head -1)"

k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: $NS-models}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  hostPath: {path: $HOST_MODELS/$NS, type: Directory}
  claimRef: {namespace: $NS, name: models}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: models, namespace: $NS}
spec:
  accessModes: [ReadOnlyMany]
  storageClassName: ""
  volumeName: $NS-models
  resources: {requests: {storage: 1Gi}}
EOF
for ns in "$NS" "$OTHER"; do
  k apply -n "$ns" -f - >/dev/null <<EOF
apiVersion: berth.dev/v1alpha1
kind: BertModel
metadata: {name: tiny}
spec: {version: "1", source: {uri: "pvc://models"}, replicas: 1}
EOF
done
ready=""
for _ in $(seq 120); do
  ready="$(k -n "$NS" get bertmodel tiny -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)"
  [ "$ready" = True ] && break; sleep 1
done
check "BertModel in $NS Ready (namespaced operator)" True "$ready"
echo "e2e-timing: cluster namespaced-mode create->Ready $(( $(date +%s) - t0 ))s (including the helm upgrade)"
check "BertModel in $OTHER untouched (no status)" "" "$(k -n "$OTHER" get bertmodel tiny -o jsonpath='{.status}')"
check "no Deployment in $OTHER" "" "$(k -n "$OTHER" get deployments -o name)"

echo "e2e-namespaced: $passed passed, $failed failed"
[ "$failed" = 0 ]
