#!/usr/bin/env bash
# make cluster-tools: builds the real cluster's components from the Go module proxy at the
# versions pinned in versions.sh, into a cache outside the clone keyed by those versions
# ($CLUSTER_TOOLS, printed at the end). A second run with everything built does nothing.
#
#   bin/kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy
#                      k8s.io/kubernetes, from a wrapper module (see kube_wrapper)
#   bin/etcd           go.etcd.io/etcd/server/v3, from a wrapper module (see etcd_wrapper)
#   bin/coredns        github.com/coredns/coredns (no replace lines: go install at the version)
#   bin/pause          build/pause/linux/pause.c of the same kubernetes module, static
#   containerd, runc, CNI plugins: Debian packages, installed with apt-get when missing
#
# Usage: scripts/cluster/build-tools.sh [--print-dir]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
. "$HERE/versions.sh"

log() { echo "cluster-tools: $*" >&2; }
die() { echo "cluster-tools: error: $*" >&2; exit 1; }

KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
BIN="$CLUSTER_TOOLS/bin"
SRC="$CLUSTER_TOOLS/src"

complete() {
  for b in "${KUBE_BINS[@]}" etcd coredns pause; do [ -x "$BIN/$b" ] || return 1; done
  [ -f "$CLUSTER_TOOLS/.complete" ]
}

check_go() {
  command -v go >/dev/null || die "Go $GO_MIN or newer is needed (go not on PATH)"
  local have; have="$(go env GOVERSION | sed 's/^go//')"
  if [ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -1)" != "$GO_MIN" ]; then
    die "Go $GO_MIN or newer is needed, found $have (GOTOOLCHAIN=go$GO_MIN fetches one through the proxy)"
  fi
}

# Debian's node packages. containerd 1.6 and runc 1.1 are what Debian 12 ships.
ensure_packages() {
  local want=(containerd runc containernetworking-plugins iptables conntrack iproute2 gcc libc6-dev)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts containerd as a service on install; the cluster runs its own.
  if command -v systemctl >/dev/null && systemctl is-active -q containerd 2>/dev/null; then
    systemctl disable --now containerd >/dev/null 2>&1 || true
  fi
}

# k8s.io/kubernetes requires its staging modules (k8s.io/api, ...) at v0.0.0 and replaces
# them with ./staging paths that a module download does not have. The wrapper requires
# kubernetes itself and replaces each staging module, read from that release's own go.mod,
# with the published v0.X.Y of the same release.
kube_wrapper() {
  local dir="$SRC/kubernetes" staging_version="v0${KUBE_VERSION#v1}"
  mkdir -p "$dir"
  local gomod
  gomod="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION from the module proxy"
  local replaces
  replaces="$(awk '/=> \.\/staging\/src\// { print "\t" $1 " => " $1 " '"$staging_version"'" }' "$gomod")"
  [ -n "$replaces" ] || die "no staging replace lines in k8s.io/kubernetes@$KUBE_VERSION's go.mod"
  {
    echo "module berth.local/cluster-tools/kubernetes"
    echo
    echo "go $(awk '$1 == "go" { print $2; exit }' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    echo "$replaces"
    echo ")"
  } > "$dir/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "// Package tools pins the commands the wrapper builds, so that go mod tidy keeps their dependencies."
    echo "package tools"
    echo
    echo "import ("
    for b in "${KUBE_BINS[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
    echo ")"
  } > "$dir/tools.go"
  log "resolving k8s.io/kubernetes@$KUBE_VERSION with $(echo "$replaces" | wc -l) staging modules at $staging_version"
  (cd "$dir" && go mod tidy)
}

kube_ldflags() {
  local v="${KUBE_VERSION#v}" date
  local major="${v%%.*}" minor; minor="${v#*.}"; minor="${minor%%.*}"
  # The module's publication time: the same build date on every machine.
  date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.info")"
  local flags="-s -w" pkg key val
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for kv in "gitVersion=$KUBE_VERSION" "gitMajor=$major" "gitMinor=$minor" "buildDate=${date:-1970-01-01T00:00:00Z}" "gitTreeState=clean"; do
      key="${kv%%=*}"; val="${kv#*=}"
      flags+=" -X '$pkg.$key=$val'"
    done
  done
  echo "$flags"
}

build_kube() {
  local have=1
  for b in "${KUBE_BINS[@]}"; do [ -x "$BIN/$b" ] || have=0; done
  [ "$have" = 1 ] && return
  kube_wrapper
  log "go build ${KUBE_BINS[*]} (k8s.io/kubernetes@$KUBE_VERSION; a cold build takes about 11 minutes on 2 cores)"
  local pkgs=()
  for b in "${KUBE_BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$SRC/kubernetes" && CGO_ENABLED=0 go build -trimpath -ldflags "$(kube_ldflags)" -o "$BIN/" "${pkgs[@]}")
}

# go.etcd.io/etcd/server/v3 replaces its sibling modules (api, client, pkg) with ../ paths;
# the wrapper points them at the published modules of the same release.
build_etcd() {
  [ -x "$BIN/etcd" ] && return
  local dir="$SRC/etcd"
  mkdir -p "$dir"
  cat > "$dir/go.mod" <<EOM
module berth.local/cluster-tools/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOM
  printf '//go:build tools\n\n// Package tools pins the etcd command.\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$dir/tools.go"
  log "go build etcd (go.etcd.io/etcd/server/v3@$ETCD_VERSION)"
  (cd "$dir" && go mod tidy && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_coredns() {
  [ -x "$BIN/coredns" ] && return
  log "go install coredns (github.com/coredns/coredns@$COREDNS_VERSION)"
  (cd "$SRC" && CGO_ENABLED=0 GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION")
}

build_pause() {
  [ -x "$BIN/pause" ] && return
  local src
  src="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c"
  [ -f "$src" ] || die "$src is missing (is k8s.io/kubernetes@$KUBE_VERSION downloaded?)"
  log "cc -static pause.c (pause $PAUSE_VERSION)"
  gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION-berth" -o "$BIN/pause" "$src"
  strip "$BIN/pause"
}

if [ "${1:-}" = "--print-dir" ]; then echo "$CLUSTER_TOOLS"; exit 0; fi

# Private Go caches for this build, removed once the binaries are in place: the build
# cache of kubernetes alone is gigabytes, its modules another, and nothing reads either
# again (the binaries are what is cached, keyed by version). CI's disk ran out on them.
GO_BUILD_CACHE="$CLUSTER_TOOLS/.go-build"
GO_MOD_CACHE="$CLUSTER_TOOLS/.go-mod"
drop_go_caches() {
  [ -d "$GO_MOD_CACHE" ] && GOMODCACHE="$GO_MOD_CACHE" go clean -modcache 2>/dev/null
  rm -rf "$GO_BUILD_CACHE" "$GO_MOD_CACHE"
}

if complete; then
  log "up to date: $CLUSTER_TOOLS"
  drop_go_caches
else
  start=$(date +%s)
  export GOCACHE="$GO_BUILD_CACHE" GOMODCACHE="$GO_MOD_CACHE"
  check_go
  ensure_packages
  mkdir -p "$BIN"
  build_kube
  build_etcd
  build_coredns
  build_pause
  touch "$CLUSTER_TOOLS/.complete"
  log "built in $(( $(date +%s) - start )) s into $CLUSTER_TOOLS; Go caches: $(du -sh "$GO_BUILD_CACHE" "$GO_MOD_CACHE" 2>/dev/null | awk '{print $1}' | paste -sd+), removed"
  drop_go_caches
fi
"$BIN/kube-apiserver" --version >&2
# awk reads to the end: `head -1` would close the pipe early, and under pipefail
# etcd's SIGPIPE (exit 141) would fail a warm run by chance.
"$BIN/etcd" --version 2>&1 | awk 'NR == 1' >&2
log "containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR == 1 {print $3}')"
