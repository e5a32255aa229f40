#!/usr/bin/env bash
# make images: Berth's container images, built here with buildah (no registry can be
# reached, so nothing is pulled):
#   base     scratch + the shared libraries the binaries need (glibc, libgcc, libstdc++),
#            CA certificates and the nonroot user 65532: what distroless/cc-debian12 has
#   berth-operator, berth-serve, berth-serve-tensorflow
#            deploy/docker/Dockerfile.* unchanged, with BASE_IMAGE set to that base
# Each is kept in buildah's storage and streamed from there into the running cluster's
# containerd (no archive on disk: the TensorFlow image alone is over a gigabyte, and a
# second copy of it is what filled CI's disk); the Helm values naming them are written
# to $IMAGES/values.yaml, the references to $IMAGES/refs.txt.
# Tags are the chart's appVersion plus a hash of what went into the image, so a rebuilt
# binary is a new reference and a node never runs a stale image under an old name.
#
#   scripts/cluster/images.sh [build]   build (release binaries must exist) and import
#   scripts/cluster/images.sh import    import the images of refs.txt into the cluster
#   scripts/cluster/images.sh pause     the pause (sandbox) image only, into the cluster
#   scripts/cluster/images.sh coredns   the cluster DNS image only, into the cluster
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log() { echo "images: $*" >&2; }
die() { echo "images: error: $*" >&2; exit 1; }

IMAGES="${BERTH_IMAGES_DIR:-$CLUSTER_ROOT/.cache/images}"
REGISTRY="${IMAGE_REGISTRY:-localhost/berth}"
RELEASE="${RELEASE_DIR:-$CLUSTER_ROOT/target/release}"
ORT_LIB="${ORT_LIB:-$CLUSTER_ROOT/.cache/ort/libonnxruntime.so}"
TF_LIB_DIR="${TF_LIB_DIR:-$CLUSTER_ROOT/.cache/tf/lib}"
CONTEXT="$CLUSTER_ROOT/target/image-context"
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CLUSTER_ROOT/charts/berth/Chart.yaml")"
mkdir -p "$IMAGES"

ensure_buildah() {
  command -v buildah >/dev/null && return
  log "apt-get install buildah"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >/dev/null
}

hash_of() { cat "$@" | sha256sum | cut -c1-12; }

# import_ref REF: from buildah's storage into the cluster's containerd, streamed as a
# docker archive through a pipe; nothing to do when containerd has it already.
import_ref() {
  local ref="$1"
  if ! ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
    log "the cluster's containerd is not running: $ref is imported by the next 'make cluster-up'"
    return
  fi
  if ctr_k8s images ls -q | grep -qxF "$ref"; then return; fi
  buildah images -q "$ref" >/dev/null 2>&1 || die "$ref is not in buildah's storage: make images"
  buildah push -q "$ref" "docker-archive:/dev/stdout:$ref" | ctr_k8s images import - >/dev/null
  log "imported $ref into the cluster's containerd"
}

# Older tags of NAME in buildah's storage: each rebuild would otherwise keep the last
# one's layers (a gigabyte a build for the TensorFlow image).
drop_older() {
  local name="$1" keep="$2"
  buildah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -F "$REGISTRY/$name:" | grep -vxF "$keep" |
    xargs -r buildah rmi -f >/dev/null 2>&1 || true
}

# link_or_copy SRC DST: the build context without another copy of large libraries
# when they live on the same file system.
link_or_copy() {
  local src; src="$(readlink -f "$1")"
  rm -f "$2"
  ln "$src" "$2" 2>/dev/null || cp "$src" "$2"
}

# The libraries FILES... load, as paths on this machine (the dynamic loader included).
libs_of() {
  ldd "$@" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | sort -u
}

build_base() {
  local bins=("$RELEASE/berth-operator" "$RELEASE/berth-serve" "$ORT_LIB")
  local libs; libs="$(libs_of "${bins[@]}")"
  local ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] || die "$ca is missing (apt-get install ca-certificates)"
  local tag; tag="deb12-$(echo "$libs" | xargs -r sha256sum | sha256sum | cut -c1-12)"
  BASE_REF="$REGISTRY/base-cc:$tag"
  if buildah images -q "$BASE_REF" >/dev/null 2>&1; then return; fi
  local root="$CONTEXT/base-rootfs"
  rm -rf "$root" && mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot"
  chmod 1777 "$root/tmp"
  # shellcheck disable=SC2086
  for l in $libs; do cp -L --parents "$l" "$root/"; done
  cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
  chown 65532:65532 "$root/home/nonroot"
  local c; c="$(buildah from scratch)"
  buildah copy -q "$c" "$root/" / >/dev/null
  buildah config --env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$c"
  buildah commit -q "$c" "$BASE_REF" >/dev/null
  buildah rm "$c" >/dev/null
  log "built $BASE_REF ($(echo "$libs" | wc -l) libraries)"
}

# build_image NAME DOCKERFILE FILES...: buildah bud of the Dockerfile over the context.
build_image() {
  local name="$1" dockerfile="$2"; shift 2
  local tag; tag="$APP_VERSION-$(hash_of "$dockerfile" "$@" <(echo "$BASE_REF"))"
  local ref="$REGISTRY/$name:$tag"
  if ! buildah images -q "$ref" >/dev/null 2>&1; then
    buildah bud -q --pull=never --layers=false --build-arg "BASE_IMAGE=$BASE_REF" --build-arg "VERSION=$APP_VERSION" \
      -f "$dockerfile" -t "$ref" "$CONTEXT" >/dev/null
    log "built $ref"
    drop_older "$name" "$ref"
  fi
  import_ref "$ref"
  eval "REF_${name//-/_}=\$ref"
}

build_all() {
  ensure_buildah
  for f in "$RELEASE/berth-operator" "$RELEASE/berth-serve"; do
    [ -x "$f" ] || die "$f is missing: cargo build --release --locked -p berth-operator -p berth-serve"
  done
  [ -f "$ORT_LIB" ] || die "$ORT_LIB is missing: make ort"
  build_base
  rm -rf "$CONTEXT/bin" "$CONTEXT/lib" && mkdir -p "$CONTEXT/bin" "$CONTEXT/lib/tensorflow"
  # Without the line tables of the release profile: a third of the size.
  objcopy --strip-debug "$RELEASE/berth-operator" "$CONTEXT/bin/berth-operator"
  objcopy --strip-debug "$RELEASE/berth-serve" "$CONTEXT/bin/berth-serve"
  link_or_copy "$CONTEXT/bin/berth-serve" "$CONTEXT/bin/berth-serve-tensorflow"
  link_or_copy "$ORT_LIB" "$CONTEXT/lib/libonnxruntime.so"
  local docker="$CLUSTER_ROOT/deploy/docker"
  build_image berth-operator "$docker/Dockerfile.operator" "$CONTEXT/bin/berth-operator"
  build_image berth-serve "$docker/Dockerfile.serve" "$CONTEXT/bin/berth-serve" "$CONTEXT/lib/libonnxruntime.so"
  if [ -f "$TF_LIB_DIR/libtensorflow_cc.so.2" ]; then
    for l in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
      link_or_copy "$TF_LIB_DIR/$l" "$CONTEXT/lib/tensorflow/$l"
    done
    ln -sf libtensorflow_cc.so.2 "$CONTEXT/lib/tensorflow/libtensorflow.so"
    build_image berth-serve-tensorflow "$docker/Dockerfile.serve-tensorflow" "$CONTEXT/bin/berth-serve-tensorflow" \
      "$CONTEXT/lib/libonnxruntime.so" "$CONTEXT/lib/tensorflow/libtensorflow_cc.so.2"
  else
    log "berth-serve-tensorflow not built: $TF_LIB_DIR has no TensorFlow C library (make tf-setup)"
  fi
  build_probe
  write_values
}

# e2e-kubectl: a test image (not shipped) with kubectl and busybox's sh, so the e2e can
# send real API requests from inside a pod as a given ServiceAccount.
build_probe() {
  local kubectl="$CLUSTER_ROOT/.cache/k8s-tools/kubectl" bb="$CONTEXT/probe/bin/busybox"
  [ -x "$kubectl" ] || die "$kubectl is missing: make k8s-tools"
  if [ ! -x "$bb" ]; then
    local work; work="$(mktemp -d)"
    (cd "$work" && apt-get download -qq busybox-static >/dev/null 2>&1) || die "apt-get download busybox-static failed"
    dpkg-deb -x "$work"/busybox-static_*.deb "$work/x"
    mkdir -p "$CONTEXT/probe/bin" && install -m 0555 "$work/x/bin/busybox" "$bb"
    rm -rf "$work"
  fi
  cp "$kubectl" "$CONTEXT/probe/bin/kubectl"
  for a in sh cat grep head sed awk sleep; do ln -sf busybox "$CONTEXT/probe/bin/$a"; done
  local tag; tag="e2e-$(hash_of "$bb" "$CONTEXT/probe/bin/kubectl" <(echo "$BASE_REF"))"
  local ref="$REGISTRY/e2e-kubectl:$tag"
  if ! buildah images -q "$ref" >/dev/null 2>&1; then
    local c; c="$(buildah from --pull=never "$BASE_REF")"
    buildah copy -q "$c" "$CONTEXT/probe/bin/" /bin/ >/dev/null
    buildah config --user 65532:65532 --entrypoint '["/bin/sh"]' "$c"
    buildah commit -q "$c" "$ref" >/dev/null
    buildah rm "$c" >/dev/null
    log "built $ref"
    drop_older e2e-kubectl "$ref"
  fi
  import_ref "$ref"
  REF_e2e_kubectl="$ref"
}

write_values() {
  local op_repo="${REF_berth_operator%:*}" op_tag="${REF_berth_operator##*:}"
  local sv_repo="${REF_berth_serve%:*}" sv_tag="${REF_berth_serve##*:}"
  cat > "$IMAGES/values.yaml" <<EOF
# Written by 'make images': the images built on this machine and imported into the
# cluster's containerd. helm install berth charts/berth -f $IMAGES/values.yaml
# They exist on this node only: never pull them.
image:
  repository: $op_repo
  tag: "$op_tag"
  pullPolicy: Never
serving:
  image:
    repository: $sv_repo
    tag: "$sv_tag"
EOF
  {
    echo "$REF_berth_operator"
    echo "$REF_berth_serve"
    [ -n "${REF_berth_serve_tensorflow:-}" ] && echo "$REF_berth_serve_tensorflow"
    echo "$REF_e2e_kubectl"
  } > "$IMAGES/refs.txt"
  log "images (also in $IMAGES/refs.txt):"
  sed 's/^/  /' "$IMAGES/refs.txt" >&2
  log "helm values: $IMAGES/values.yaml"
}

# static_image REF BINARY USER: one static binary on scratch as its entrypoint,
# imported into the cluster.
static_image() {
  local ref="$1" binary="$2" user="$3"
  ensure_buildah
  [ -x "$binary" ] || die "$binary is missing: make cluster-tools"
  if ! buildah images -q "$ref" >/dev/null 2>&1; then
    local c name; c="$(buildah from scratch)"; name="$(basename "$binary")"
    buildah copy -q --chmod 0555 "$c" "$binary" "/$name" >/dev/null
    buildah config --entrypoint "[\"/$name\"]" --user "$user" "$c"
    buildah commit -q "$c" "$ref" >/dev/null
    buildah rm "$c" >/dev/null
  fi
  import_ref "$ref"
}

# The sandbox image every pod starts with: pause.c from the pinned kubernetes release.
build_pause() { static_image "$PAUSE_IMAGE" "$BIN/pause" 65535:65535; }

# The cluster DNS: the static coredns binary.
build_coredns() { static_image "$REGISTRY/coredns:${COREDNS_VERSION#v}" "$BIN/coredns" 65532:65532; }

case "${1:-build}" in
  build) build_all ;;
  pause) build_pause ;;
  coredns) build_coredns ;;
  import)
    if [ -f "$IMAGES/refs.txt" ]; then
      ensure_buildah
      while read -r ref; do [ -n "$ref" ] && import_ref "$ref"; done < "$IMAGES/refs.txt"
    fi
    # Archives an older images.sh saved: the images are in buildah's storage.
    rm -f "$IMAGES"/*.tar
    ;;
  *) die "usage: $0 [build|import|pause]" ;;
esac
