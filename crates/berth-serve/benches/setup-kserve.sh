#!/usr/bin/env bash
# A separate virtualenv with the KServe Python model server (PyPI `kserve`) plus
# onnxruntime and tokenizers, for the comparison in `make bench`. Kept apart from
# .cache/venv because kserve pins many packages of its own.
# Idempotent: a stamp makes a second run instant.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
VENV="$CACHE/kserve-venv"
PKGS="kserve==0.21.0 onnxruntime==1.32.0 tokenizers numpy"
STAMP="$VENV/.stamp-$(echo "$PKGS" | sha256sum | cut -c1-16)"
[[ -f "$STAMP" ]] && exit 0
PY="$CACHE/venv/bin/python"
[[ -x "$PY" ]] || PY=python3
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --cache-dir "$CACHE/pip" $PKGS
touch "$STAMP"
echo "setup-kserve: $VENV ready"
