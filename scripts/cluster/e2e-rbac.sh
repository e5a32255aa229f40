#!/usr/bin/env bash
# RBAC for real, on a cluster whose API server enforces it (make e2e-cluster):
#   - a serving pod's ServiceAccount may get/list/watch its own BertModel and is refused
#     (403) another BertModel and Secrets: asked with `kubectl auth can-i --as`, and
#     with real requests from inside a pod running as that ServiceAccount (its projected
#     token, kubectl in-cluster, image $PROBE_IMAGE from 'make images');
#   - the operator's ServiceAccount has what the chart grants and no more (no Secrets,
#     no pods/exec, no nodes).
# Prints one line per check and "N passed, M failed".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KUBECTL="${KUBECTL:-$ROOT/.cache/k8s-tools/kubectl}"
PROBE_IMAGE="${PROBE_IMAGE:?set PROBE_IMAGE (the e2e-kubectl image from make images)}"
OPERATOR_SA="${OPERATOR_SA:-system:serviceaccount:berth-system:berth-operator}"
NS=e2e-rbac
k() { "$KUBECTL" "$@"; }
passed=0 failed=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1: expected '$2', got '$3'"; fi
}
can_i() { k auth can-i "$@" 2>/dev/null | head -1; }

k delete namespace "$NS" --ignore-not-found --wait >/dev/null
k create namespace "$NS" >/dev/null
trap 'k delete namespace "$NS" --ignore-not-found --wait=false >/dev/null' EXIT
# Two models; replicas 0: the operator still makes each one's ServiceAccount, Role and
# RoleBinding, and no model files are needed.
# `own` names a golden set: its pods may get that one ConfigMap, no other.
for m in own other; do
  k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: berth.dev/v1alpha1
kind: BertModel
metadata: {name: $m}
spec: {version: "1", source: {uri: "pvc://models"}, replicas: 0, rollout: {goldenSet: {configMap: $m-golden}}}
EOF
done
for m in own other; do k -n "$NS" create configmap "$m-golden" --from-literal=golden.jsonl='{"text":"a","label":"x"}' >/dev/null; done
for _ in $(seq 60); do k -n "$NS" get rolebinding own-berth-serve >/dev/null 2>&1 && break; sleep 1; done
SA="system:serviceaccount:$NS:own-berth-serve"

echo "e2e-rbac: kubectl auth can-i --as $SA"
check "serving SA: get its own BertModel" yes "$(can_i get bertmodels.berth.dev/own -n "$NS" --as "$SA")"
check "serving SA: watch its own BertModel" yes "$(can_i watch bertmodels.berth.dev/own -n "$NS" --as "$SA")"
check "serving SA: get another BertModel" no "$(can_i get bertmodels.berth.dev/other -n "$NS" --as "$SA")"
check "serving SA: update its own BertModel" no "$(can_i update bertmodels.berth.dev/own -n "$NS" --as "$SA")"
check "serving SA: get Secrets" no "$(can_i get secrets -n "$NS" --as "$SA")"
check "serving SA: list pods" no "$(can_i list pods -n "$NS" --as "$SA")"
check "serving SA: get its golden set ConfigMap" yes "$(can_i get configmaps/own-golden -n "$NS" --as "$SA")"
check "serving SA: get another ConfigMap" no "$(can_i get configmaps/other-golden -n "$NS" --as "$SA")"
check "serving SA: list ConfigMaps" no "$(can_i list configmaps -n "$NS" --as "$SA")"

echo "e2e-rbac: kubectl auth can-i --as $OPERATOR_SA"
check "operator: patch BertModel status" yes "$(can_i patch bertmodels.berth.dev --subresource=status -n "$NS" --as "$OPERATOR_SA")"
check "operator: create Deployments" yes "$(can_i create deployments.apps -n "$NS" --as "$OPERATOR_SA")"
check "operator: get Secrets" no "$(can_i get secrets -n "$NS" --as "$OPERATOR_SA")"
check "operator: exec into pods" no "$(can_i create pods/exec -n "$NS" --as "$OPERATOR_SA")"
check "operator: list nodes" no "$(can_i list nodes --as "$OPERATOR_SA")"
check "operator: delete pods" no "$(can_i delete pods -n "$NS" --as "$OPERATOR_SA")"
check "operator: get ConfigMaps (to grant a golden set)" yes "$(can_i get configmaps -n "$NS" --as "$OPERATOR_SA")"
check "operator: list ConfigMaps" no "$(can_i list configmaps -n "$NS" --as "$OPERATOR_SA")"

echo "e2e-rbac: real requests from a pod running as $SA"
k apply -n "$NS" -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: rbac-probe}
spec:
  serviceAccountName: own-berth-serve
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: probe
    image: $PROBE_IMAGE
    imagePullPolicy: Never
    env: [{name: HOME, value: /tmp}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: tmp, mountPath: /tmp}]
    command: ["/bin/sh", "-c"]
    args:
    - |
      req() { n=\$1; shift
        if kubectl "\$@" >/dev/null 2>/tmp/err; then echo "\$n allowed"
        elif grep -q '(Forbidden)' /tmp/err; then echo "\$n forbidden"
        else echo "\$n error: \$(head -c 300 /tmp/err)"; fi; }
      base=/apis/berth.dev/v1alpha1/namespaces/$NS/bertmodels
      req own-get get bertmodels.berth.dev own
      req own-watch get --raw "\$base?fieldSelector=metadata.name%3Down&watch=1&timeoutSeconds=1"
      req own-list get bertmodels.berth.dev --field-selector=metadata.name=own
      req other-get get bertmodels.berth.dev other
      req all-list get bertmodels.berth.dev
      req secrets-list get secrets
      req secret-get get secret own-berth-serve-token
      req golden-get get configmap own-golden
      req other-cm-get get configmap other-golden
  volumes: [{name: tmp, emptyDir: {}}]
EOF
k -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded pod/rbac-probe --timeout=90s >/dev/null \
  || { k -n "$NS" describe pod rbac-probe | tail -20; }
out="$(k -n "$NS" logs rbac-probe 2>&1)"
echo "$out" | sed 's/^/  pod: /'
result() { echo "$out" | awk -v n="$1" '$1 == n { print $2 }'; }
check "pod: get its own BertModel" allowed "$(result own-get)"
check "pod: watch its own BertModel" allowed "$(result own-watch)"
check "pod: list its own BertModel by name" allowed "$(result own-list)"
check "pod: get another BertModel" forbidden "$(result other-get)"
check "pod: list all BertModels" forbidden "$(result all-list)"
check "pod: list Secrets" forbidden "$(result secrets-list)"
check "pod: get a Secret" forbidden "$(result secret-get)"
check "pod: get its golden set ConfigMap" allowed "$(result golden-get)"
check "pod: get another ConfigMap" forbidden "$(result other-cm-get)"

echo "e2e-rbac: $passed passed, $failed failed"
[ "$failed" = 0 ]
