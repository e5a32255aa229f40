#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library from the PyPI `onnxruntime` wheel and
# put it at $CACHE/ort/libonnxruntime.so, which the `ort` crate (load-dynamic)
# loads through ORT_DYLIB_PATH. Cached: a second run does nothing.
#
# Env: CACHE (default <repo>/.cache), ORT_VERSION (default 1.32.0), PYTHON (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
ORT_VERSION="${ORT_VERSION:-1.32.0}"
PYTHON="${PYTHON:-python3}"
ORT_DIR="$CACHE/ort"
LIB="libonnxruntime.so.$ORT_VERSION"
STAMP="$ORT_DIR/.stamp-$ORT_VERSION"

die() { echo "fetch-ort: error: $*" >&2; exit 1; }

if [[ -f "$STAMP" && -f "$ORT_DIR/$LIB" && -L "$ORT_DIR/libonnxruntime.so" ]]; then
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64|Linux-aarch64) ;;
  *) die "unsupported platform $(uname -s)-$(uname -m) (need Linux x86_64 or aarch64)" ;;
esac
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (need python3.11+ with pip)"
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')"

mkdir -p "$ORT_DIR" "$CACHE/pip" "$CACHE/wheels"
WHEEL="$(ls "$CACHE/wheels"/onnxruntime-"$ORT_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$WHEEL" ]]; then
  echo "fetch-ort: downloading onnxruntime==$ORT_VERSION wheel (cp$PYVER, $(uname -m)) from PyPI"
  # No --platform: pip picks the wheel matching this machine's python and glibc.
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
      --cache-dir "$CACHE/pip" -d "$CACHE/wheels" "onnxruntime==$ORT_VERSION" \
    || die "pip download onnxruntime==$ORT_VERSION failed (is PyPI reachable?)"
  WHEEL="$(ls "$CACHE/wheels"/onnxruntime-"$ORT_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  [[ -n "$WHEEL" ]] || die "no onnxruntime-$ORT_VERSION wheel in $CACHE/wheels after download"
fi

# Extract only the shared library (and the providers_shared lib if present).
"$PYTHON" - "$WHEEL" "$ORT_DIR" "$LIB" <<'PY'
import sys, zipfile, os, shutil
wheel, out, lib = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    want = [n for n in names if n.startswith("onnxruntime/capi/") and
            (n.endswith("/" + lib) or n.endswith("libonnxruntime_providers_shared.so"))]
    if not any(n.endswith("/" + lib) for n in want):
        sys.exit(f"fetch-ort: error: {lib} not found in {wheel}; has: " +
                 ", ".join(n for n in names if ".so" in n))
    for n in want:
        dst = os.path.join(out, os.path.basename(n))
        tmp = dst + ".tmp"
        with z.open(n) as src, open(tmp, "wb") as f:
            shutil.copyfileobj(src, f)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)
PY
ln -sfn "$LIB" "$ORT_DIR/libonnxruntime.so"
ln -sfn "$LIB" "$ORT_DIR/libonnxruntime.so.1"
touch "$STAMP"
echo "fetch-ort: $ORT_DIR/libonnxruntime.so -> $LIB"
