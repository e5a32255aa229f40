#!/usr/bin/env bash
# Create the project's Python virtualenv at $CACHE/venv with the pinned packages of
# scripts/requirements-models.txt (+ requirements-nodeps.txt installed with --no-deps).
# Idempotent: a stamp keyed on the requirements files' hash makes a second run instant.
#
# Env: CACHE (default <repo>/.cache), PYTHON (default python3; needs 3.11+ with venv/pip).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
PYTHON="${PYTHON:-python3}"
VENV="$CACHE/venv"
REQ="$ROOT/scripts/requirements-models.txt"
REQ_NODEPS="$ROOT/scripts/requirements-nodeps.txt"

die() { echo "setup-python: error: $*" >&2; exit 1; }

[[ -f "$REQ" && -f "$REQ_NODEPS" ]] || die "missing $REQ or $REQ_NODEPS"
HASH="$(cat "$REQ" "$REQ_NODEPS" | sha256sum | cut -c1-16)"
STAMP="$VENV/.stamp-$HASH"
if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (need python3.11+)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$PYTHON is $("$PYTHON" --version 2>&1); need 3.11+"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup-python: creating $VENV"
  if ! "$PYTHON" -m venv "$VENV" 2>/tmp/berth-venv-err.$$; then
    # Debian's system python lacks ensurepip without python3-venv: use virtualenv from PyPI.
    echo "setup-python: 'python -m venv' failed ($(tail -n1 /tmp/berth-venv-err.$$)); using virtualenv"
    rm -rf "$VENV"
    "$PYTHON" -m pip install --quiet --cache-dir "$CACHE/pip" --target "$CACHE/virtualenv-pkg" virtualenv \
      || die "pip install virtualenv failed (or: apt-get install python3-venv)"
    PYTHONPATH="$CACHE/virtualenv-pkg" "$PYTHON" -m virtualenv --quiet "$VENV" \
      || die "virtualenv $VENV failed"
  fi
  rm -f /tmp/berth-venv-err.$$
fi
rm -f "$VENV"/.stamp-*
export PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
echo "setup-python: installing $(basename "$REQ") into $VENV"
"$VENV/bin/python" -m pip install --quiet --only-binary=:all: -r "$REQ" \
  || die "pip install -r $REQ failed"
"$VENV/bin/python" -m pip install --quiet --no-deps -r "$REQ_NODEPS" \
  || die "pip install --no-deps -r $REQ_NODEPS failed"
"$VENV/bin/python" -c 'import numpy, onnx, onnxruntime, tokenizers, safetensors, tritonclient.http, tritonclient.grpc' \
  || die "venv imports failed after install"
touch "$STAMP"
echo "setup-python: $VENV ready"
