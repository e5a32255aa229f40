# shellcheck shell=bash
# "Images" for berth-local: the built binaries, wrapped the way their container images
# would run them. Pods on berth-local share this machine's network (each has its own
# 127.1.x.y address), so the wrappers bind the pod's address where a container would
# bind 0.0.0.0, and the serving image carries its ONNX Runtime library, as the real
# image does (deploy/docker/Dockerfile.serve).
#
#   write_local_images DIR BIN_DIR ORT_LIBRARY
#   local_image_flags DIR      -> the --image flags for `berth local up`, one per line
write_local_images() {
  local dir="$1" bin="$2" ort="$3"
  mkdir -p "$dir"
  cat >"$dir/berth-serve" <<WRAPPER
#!/bin/sh
# ghcr.io/berth-dev/berth-serve on berth-local (scripts/lib/local-images.sh)
export ORT_DYLIB_PATH='$ort'
exec '$bin/berth-serve' --host "\$BERTH_POD_IP" "\$@"
WRAPPER
  cat >"$dir/berth-operator" <<WRAPPER
#!/bin/sh
# ghcr.io/berth-dev/berth-operator on berth-local (scripts/lib/local-images.sh):
# an argument 0.0.0.0:PORT becomes the pod's own address POD_IP:PORT.
n=\$#
for a in "\$@"; do
  case "\$a" in 0.0.0.0:*) a="\$BERTH_POD_IP:\${a#0.0.0.0:}" ;; esac
  set -- "\$@" "\$a"
done
shift "\$n"
exec '$bin/berth-operator' "\$@"
WRAPPER
  chmod +x "$dir/berth-serve" "$dir/berth-operator"
}

local_image_flags() {
  printf '%s\n' --image "ghcr.io/berth-dev/berth-serve:*=$1/berth-serve" \
    --image "ghcr.io/berth-dev/berth-operator:*=$1/berth-operator"
}
