#!/usr/bin/env bash
# `helm install` / `helm uninstall` of charts/berth into a fresh `berth local` cluster,
# as a user does it: plain `berth local up` (no --image flags: berth-local maps Berth's
# own images to the binaries beside `berth`) and `helm install`. The operator the chart
# deploys must come up and take its Lease, and uninstall must leave nothing but the CRD
# (scripts/packaging/helm-e2e.sh does the checking).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
BIN="${BIN:-$ROOT/target/debug}"
for b in berth berth-operator berth-serve; do
  [ -x "$BIN/$b" ] || { echo "helm-e2e-local: FAIL: $BIN/$b is not built"; exit 1; }
done
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/helm-e2e.XXXXXX")"
cleanup() {
  timeout 90 "$BIN/berth" local down --state-dir "$WORK/local" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
out="$(ORT_DYLIB_PATH="$CACHE/ort/libonnxruntime.so" timeout 120 "$BIN/berth" local up --state-dir "$WORK/local" 2>&1)" ||
  { printf '%s\n' "$out"; echo "helm-e2e-local: FAIL: berth local up"; exit 1; }
printf '%s\n' "$out" | grep '^pod network:' | sed 's/^/helm-e2e-local: /' || true
BERTH_HELM_E2E_KUBECONFIG="$WORK/local/kubeconfig" CACHE="$CACHE" bash "$ROOT/scripts/packaging/helm-e2e.sh"
