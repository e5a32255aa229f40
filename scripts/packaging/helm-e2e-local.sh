#!/usr/bin/env bash
# `helm install` / `helm uninstall` of charts/berth into a fresh `berth local` cluster:
# the operator the chart deploys must come up and take its Lease, and uninstall must
# leave nothing but the CRD (scripts/packaging/helm-e2e.sh does the checking).
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
# shellcheck source=scripts/lib/local-images.sh
source "$ROOT/scripts/lib/local-images.sh"
write_local_images "$WORK/images" "$BIN" "$CACHE/ort/libonnxruntime.so"
mapfile -t IMAGE_FLAGS < <(local_image_flags "$WORK/images")
timeout 120 "$BIN/berth" local up --state-dir "$WORK/local" "${IMAGE_FLAGS[@]}" >/dev/null
BERTH_HELM_E2E_KUBECONFIG="$WORK/local/kubeconfig" CACHE="$CACHE" bash "$ROOT/scripts/packaging/helm-e2e.sh"
