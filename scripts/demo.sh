#!/usr/bin/env bash
# `make demo`: run Berth end to end on this machine (see docs/demo.md).
#
#   builds berth, berth-operator, berth-serve and kubectl-berth, the models, kubectl and helm;
#   starts `berth local up` (state in .cache/demo/local), installs the operator with the Helm
#   chart, serves the real all-MiniLM-L6-v2 as a BertModel, sends real requests, rolls out
#   version 2 (printing the traffic steps as they happen) and a broken version 3 (showing the
#   automatic rollback and status.rejectedVersions), then stops everything.
#
# Usage: scripts/demo.sh [down]
# Environment:
#   KEEP=1              leave the cluster running at the end (stop it with `make demo-down`)
#   PROFILE=release     build and run release binaries (default: debug, like the tests)
#   DEMO_OPERATOR=process   run `berth-operator run` as a local process instead of `helm install`
#   DEMO_SKIP_BUILD=1   use what is already built
#   READY_TIMEOUT=180 ROLLOUT_TIMEOUT=180   seconds for the model to become Ready / a rollout to end
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${CACHE:-$ROOT/.cache}"
DEMO="${DEMO_DIR:-$CACHE/demo}"
STATE="$DEMO/local"
PROFILE="${PROFILE:-debug}"
KEEP="${KEEP:-0}"
OPERATOR_MODE="${DEMO_OPERATOR:-helm}"
READY_TIMEOUT="${READY_TIMEOUT:-180}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-180}"
CARGO="${CARGO:-cargo}"
MAKE="${MAKE:-make}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="$TARGET/$PROFILE"
TOOLS="$CACHE/k8s-tools"
KUBECTL="$TOOLS/kubectl"
HELM="$TOOLS/helm"
PY="$(command -v python3 || true)"
CLIENT="$ROOT/scripts/demo/client.py"
NS=default
MODEL=minilm
OP_NS=berth-system
# One line per change of the model: spec.version|phase|step|traffic versions|weights|rejected.
WATCH_TEMPLATE='{.spec.version}|{.status.phase}|{.status.currentStep}|{.status.traffic[*].version}|{.status.traffic[*].weight}|{.status.rejectedVersions[*].version}{"\n"}'

case "$PROFILE" in debug) CARGO_PROFILE=() ;; release) CARGO_PROFILE=(--release) ;;
  *) echo "PROFILE must be debug or release, not '$PROFILE'" >&2; exit 2 ;; esac

if [ "${1:-}" = down ]; then
  if [ -x "$BIN/berth" ]; then exec "$BIN/berth" local down --state-dir "$STATE"; fi
  echo "no berth binary at $BIN/berth: nothing to stop" >&2; exit 0
fi

# ---- output, failure and cleanup --------------------------------------------------------
T0=$(date +%s%N)
now_ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }
secs() { printf '%d.%ds' $(( $1 / 1000 )) $(( ($1 % 1000) / 100 )); }
STEP=0
STEPS=8
banner() { STEP=$((STEP + 1)); printf '\n==> [%s/%s] %s   (at %s)\n' "$STEP" "$STEPS" "$*" "$(secs "$(now_ms)")"; }
info() { printf '    %s\n' "$*"; }
indent() { sed -u 's/^/    /'; }
k() { "$KUBECTL" --request-timeout=30s "$@"; }

CLUSTER_UP=0
BG_PIDS=()
DIAGNOSED=0
diagnostics() {
  [ "$DIAGNOSED" = 0 ] && [ "$CLUSTER_UP" = 1 ] && [ -f "$STATE/kubeconfig" ] || return 0
  DIAGNOSED=1
  echo "---- diagnostics ----------------------------------------------------------------" >&2
  k get bm,deploy,pods -A -o wide 2>&1 | sed 's/^/  /' >&2 || true
  if k -n "$NS" get bm "$MODEL" >/dev/null 2>&1; then
    echo "  BertModel $MODEL status:" >&2
    k -n "$NS" get bm "$MODEL" -o yaml 2>&1 | sed -n '/^status:/,$p' | sed 's/^/    /' >&2 || true
  fi
  if [ "$OPERATOR_MODE" = helm ]; then
    echo "  operator log (last 15 lines):" >&2
    k -n "$OP_NS" logs deploy/berth-operator --tail=15 2>&1 | cut -c1-400 | sed 's/^/    /' >&2 || true
  elif [ -f "$DEMO/operator.log" ]; then
    echo "  operator log ($DEMO/operator.log, last 15 lines):" >&2
    tail -n 15 "$DEMO/operator.log" | cut -c1-400 | sed 's/^/    /' >&2
  fi
  for pod in $(k -n "$NS" get pods -l "berth.dev/model=$MODEL" -o name 2>/dev/null); do
    echo "  $pod log (last 8 lines):" >&2
    k -n "$NS" logs "$pod" --tail=8 2>&1 | cut -c1-400 | sed 's/^/    /' >&2 || true
  done
  echo "  berth-local log: $STATE/berth-local.log (last 10 lines):" >&2
  tail -n 10 "$STATE/berth-local.log" 2>/dev/null | sed "s/\x1b\[[0-9;]*m//g" | cut -c1-400 | sed 's/^/    /' >&2 || true
  echo "---------------------------------------------------------------------------------" >&2
}
die() {
  trap - ERR
  printf '\nDEMO FAILED at step %s: %s\n' "$STEP" "$*" >&2
  diagnostics
  exit 1
}
on_err() {
  # In a command substitution: say what failed and let the caller's own check report it.
  if [ "$BASH_SUBSHELL" -gt 0 ]; then echo "scripts/demo.sh:$2: '$3' failed (exit $1)" >&2; exit "$1"; fi
  die "command failed (exit $1) at scripts/demo.sh:$2: $3"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
trap 'echo "interrupted" >&2; exit 130' INT TERM

stop_pid() { # PID [seconds]: TERM, wait up to N seconds, then KILL
  local pid=$1 n=$(( ${2:-5} * 10 ))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local left=() p
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$pid" ] || left+=("$p"); done
  BG_PIDS=("${left[@]}")
}

cleanup() {
  local rc=$?
  trap - ERR
  set +e
  for pid in "${BG_PIDS[@]}"; do stop_pid "$pid" 3; done
  if [ -n "${OPERATOR_PID:-}" ] && [ "$KEEP" != 1 ]; then stop_pid "$OPERATOR_PID" 10; fi
  if [ "$CLUSTER_UP" = 1 ]; then
    if [ "$KEEP" = 1 ]; then
      cat <<EOF

The cluster keeps running (KEEP=1). Try:
  export KUBECONFIG=$STATE/kubeconfig PATH=$TOOLS:$BIN:\$PATH
  kubectl get bm,pods -o wide
  kubectl berth status $MODEL
  kubectl patch bm $MODEL --type merge -p '{"spec":{"version":"1"}}'; kubectl get bm $MODEL -w
Stop it with: make demo-down   (or: $BIN/berth local down --state-dir $STATE)
EOF
      [ -n "${OPERATOR_PID:-}" ] && echo "The operator runs as process $OPERATOR_PID (log: $DEMO/operator.log); kill it yourself."
    else
      printf '\n==> Stopping: berth local down\n'
      timeout 90 "$BIN/berth" local down --state-dir "$STATE" 2>&1 | indent
    fi
  fi
  rm -f "$DEMO/watch.fifo"
  exit "$rc"
}
trap cleanup EXIT

# ---- background helpers: load generator and rollout watcher --------------------------------
LOAD_PID=""
start_load() { # TALLY_FILE
  rm -f "$1"
  "$PY" "$CLIENT" load "$URL" "$MODEL" "$1" &
  LOAD_PID=$!
  BG_PIDS+=("$LOAD_PID")
}
stop_load() { [ -n "$LOAD_PID" ] && stop_pid "$LOAD_PID" 10; LOAD_PID=""; }

WATCH_PID=""
FMT_PID=""
start_watch() { # TALLY_FILE: prints every change of the model, with the load's answers per state
  local fifo="$DEMO/watch.fifo" ready="$DEMO/watch.ready" n=100
  rm -f "$fifo" "$ready"
  mkfifo "$fifo"
  "$PY" "$CLIENT" watch "$1" "$ready" <"$fifo" &
  FMT_PID=$!
  BG_PIDS+=("$FMT_PID")
  "$KUBECTL" -n "$NS" get bm "$MODEL" -w -o jsonpath="$WATCH_TEMPLATE" >"$fifo" 2>>"$DEMO/watch.err" &
  WATCH_PID=$!
  BG_PIDS+=("$WATCH_PID")
  while [ ! -e "$ready" ]; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || die "'kubectl get bm $MODEL -w' printed nothing within 10s (see $DEMO/watch.err)"
    kill -0 "$WATCH_PID" 2>/dev/null || die "'kubectl get bm $MODEL -w' exited: $(tail -n 3 "$DEMO/watch.err" 2>/dev/null)"
    sleep 0.1
  done
}
stop_watch() {
  sleep 1 # the last events reach the formatter
  stop_pid "$WATCH_PID" 3
  local n=50
  while kill -0 "$FMT_PID" 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  stop_pid "$FMT_PID" 1
  WATCH_PID="" FMT_PID=""
}

status_line() { # a one-line picture of the model, for error messages
  k -n "$NS" get bm "$MODEL" -o jsonpath='phase={.status.phase} stable={.status.stableVersion} canary={.status.canaryVersion} weights={.status.traffic[*].weight} message="{.status.conditions[?(@.type=="Progressing")].message}"' 2>&1 || true
}

# ---- 1. build ---------------------------------------------------------------------------------
banner "Building: models, kubectl + helm, berth binaries ($PROFILE)"
[ -n "$PY" ] || die "python3 is needed (the demo client uses only its standard library)"
if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
  info "make models k8s-tools   (MiniLM ONNX, ONNX Runtime, kubectl, helm; cached)"
  "$MAKE" -C "$ROOT" --no-print-directory CACHE="$CACHE" models k8s-tools 2>&1 | indent
  info "cargo build ${CARGO_PROFILE[*]} -p berth-local -p berth-operator -p berth-serve -p kubectl-berth"
  "$CARGO" build --locked "${CARGO_PROFILE[@]}" -p berth-local -p berth-operator -p berth-serve -p kubectl-berth 2>&1 | indent
fi
for f in "$BIN/berth" "$BIN/berth-operator" "$BIN/berth-serve" "$BIN/kubectl-berth"; do
  [ -x "$f" ] || die "$f is missing (cargo build ${CARGO_PROFILE[*]} -p berth-local -p berth-operator -p berth-serve -p kubectl-berth)"
done
[ -x "$KUBECTL" ] || die "$KUBECTL is missing (make k8s-tools)"
[ -x "$HELM" ] || die "$HELM is missing (scripts/fetch-k8s-tools.sh)"
ORT="$CACHE/ort/libonnxruntime.so"
[ -e "$ORT" ] || die "$ORT is missing (make ort)"
[ -f "$CACHE/models/minilm/1/model.onnx" ] || die "$CACHE/models/minilm/1/model.onnx is missing (make models)"
# `kubectl berth` is the kubectl-berth plugin found on the PATH.
export PATH="$TOOLS:$BIN:$PATH"
info "$("$KUBECTL" version --client 2>/dev/null | sed -n 1p), helm $("$HELM" version --short 2>/dev/null)"

# ---- 2. model repository ------------------------------------------------------------------------
banner "Model repository: MiniLM as versions 1 and 2, a corrupt version 3"
mkdir -p "$DEMO"
REPO="$DEMO/models/minilm"
rm -rf "$DEMO/models"
mkdir -p "$REPO/3"
SRC="$CACHE/models/minilm/1"
ln -s "$SRC" "$REPO/1"
ln -s "$SRC" "$REPO/2" # the same weights: a rollout still loads, warms and shifts traffic
for f in "$SRC"/*; do
  [ "$(basename "$f")" = model.onnx ] || ln -s "$f" "$REPO/3/$(basename "$f")"
done
# An interrupted upload: the first MiB of the real model (its sha256 no longer matches the manifest).
head -c 1048576 "$SRC/model.onnx" >"$REPO/3/model.onnx"
info "$REPO/1 -> $SRC   (all-MiniLM-L6-v2, $(du -shL "$SRC/model.onnx" | cut -f1) ONNX)"
info "$REPO/2 -> $SRC   (same weights, a new version)"
info "$REPO/3/model.onnx: truncated to 1 MiB (corrupt)"

# ---- 3. berth local up ----------------------------------------------------------------------------
banner "Starting the local control plane: berth local up"
if [ -d "$STATE" ]; then
  # A cluster kept by KEEP=1, or left over by a run that was killed: stop it and any pod
  # process that carries its state dir.
  if [ -f "$STATE/berth-local.pid" ] && kill -0 "$(cat "$STATE/berth-local.pid")" 2>/dev/null; then
    info "a previous demo cluster is still running (KEEP=1?): stopping it"
  fi
  out="$(timeout 90 "$BIN/berth" local down --state-dir "$STATE" 2>&1)" ||
    die "could not stop the previous demo cluster in $STATE: $out"
  case "$out" in *"was not running"*) ;; *) printf '%s\n' "$out" | indent ;; esac
fi
rm -rf "$STATE"
CLUSTER_UP=1
# Berth's images map to the binaries beside `berth` by default; berth-serve gets this
# ONNX Runtime library, as the real image carries its own.
ORT_DYLIB_PATH="$ORT" "$BIN/berth" local up --state-dir "$STATE" --backoff-base-ms 2000 2>&1 | indent
export KUBECONFIG="$STATE/kubeconfig"
[ -f "$KUBECONFIG" ] || die "berth local up did not write $KUBECONFIG"
info "API server: $(k config view -o jsonpath='{.clusters[0].cluster.server}')"

# ---- 4. the operator ---------------------------------------------------------------------------------
if [ "$OPERATOR_MODE" = helm ]; then
  banner "Installing the CRD and the operator: helm install berth charts/berth"
  T=$(now_ms)
  timeout 180 "$HELM" install berth "$ROOT/charts/berth" --namespace "$OP_NS" --create-namespace \
    --wait --timeout 120s 2>&1 | sed '/^NOTES:/,$d' | indent ||
    die "helm install did not finish (the operator Deployment did not become ready within 120s)"
  k wait --for=condition=Established crd/bertmodels.berth.dev --timeout=30s 2>&1 | indent ||
    die "the BertModel CRD was not Established within 30s"
  n=300
  until [ -n "$(k -n "$OP_NS" get lease berth-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || die "no operator replica took the leader Lease $OP_NS/berth-operator within 30s"
    sleep 0.1
  done
  k -n "$OP_NS" get deploy,pods -o wide 2>&1 | indent
  info "leader: $(k -n "$OP_NS" get lease berth-operator -o jsonpath='{.spec.holderIdentity}')"
  T_OPERATOR=$(( $(now_ms) - T ))
else
  banner "Installing the CRD and running the operator as a local process (DEMO_OPERATOR=process)"
  T=$(now_ms)
  "$BIN/berth-operator" crd | k apply --server-side -f - 2>&1 | indent
  k wait --for=condition=Established crd/bertmodels.berth.dev --timeout=30s 2>&1 | indent ||
    die "the BertModel CRD was not Established within 30s"
  "$BIN/berth-operator" run --metrics-bind 127.0.0.1:0 --no-leader-election >"$DEMO/operator.log" 2>&1 &
  OPERATOR_PID=$!
  info "berth-operator run (pid $OPERATOR_PID), log: $DEMO/operator.log"
  T_OPERATOR=$(( $(now_ms) - T ))
fi

# ---- 5. the model ---------------------------------------------------------------------------------------
banner "Serving MiniLM: kubectl apply a BertModel, wait for Ready"
sed "s|__MODEL_URI__|file://$REPO|" "$ROOT/scripts/demo/bertmodel.yaml" >"$DEMO/bertmodel.yaml"
info "spec: version 1, replicas 2, steps 20% (5s) -> 50% (5s) -> 100%, analysis every 2s, source file://$REPO"
T=$(now_ms)
k apply -f "$DEMO/bertmodel.yaml" 2>&1 | indent
k -n "$NS" wait --for=condition=Ready "bm/$MODEL" --timeout="${READY_TIMEOUT}s" 2>&1 | indent ||
  die "BertModel $MODEL did not become Ready within ${READY_TIMEOUT}s ($(status_line))"
T_READY=$(( $(now_ms) - T ))
info "Ready after $(secs "$T_READY")"
k -n "$NS" get bm "$MODEL" 2>&1 | indent
k -n "$NS" get pods -l "berth.dev/model=$MODEL" -o wide 2>&1 | indent

# ---- 6. real requests -------------------------------------------------------------------------------------
banner "Real requests through the Service (Open Inference Protocol V2, REST)"
IP="$(k -n "$NS" get svc "$MODEL" -o jsonpath='{.spec.clusterIP}')"
[ -n "$IP" ] || die "Service $MODEL has no cluster IP"
URL="http://$IP:8501"
info "Service $NS/$MODEL at $IP:8501 (berth-local's proxy -> the pods' own addresses)"
DEMO_SIMILARITY_OUT="$DEMO/similarity.txt" "$PY" "$CLIENT" similarity "$URL" "$MODEL" 2>&1 | indent ||
  die "the similarity requests to $URL failed or gave unexpected answers"

# ---- 7. rollout of version 2 --------------------------------------------------------------------------------
banner "Hot update to version 2, with requests running throughout"
info "kubectl patch bm $MODEL --type merge -p '{\"spec\":{\"version\":\"2\"}}'   (watching: kubectl get bm $MODEL -w)"
start_load "$DEMO/load-v2.json"
start_watch "$DEMO/load-v2.json"
sleep 1 # a baseline: the load before the change
T=$(now_ms)
k -n "$NS" patch bm "$MODEL" --type merge -p '{"spec":{"version":"2"}}' >/dev/null
deadline=$(( $(now_ms) + ROLLOUT_TIMEOUT * 1000 ))
while :; do
  s="$(k -n "$NS" get bm "$MODEL" -o jsonpath='{.status.stableVersion}|{.status.canaryVersion}|{.status.rejectedVersions[*].version}' 2>/dev/null)" || s="" # retried until the deadline
  IFS='|' read -r stable canary rejected <<<"$s"
  if [[ " $rejected " == *" 2 "* ]]; then
    stop_watch
    die "version 2 was rolled back instead of promoted: $(k -n "$NS" get bm "$MODEL" -o jsonpath='{.status.rejectedVersions[?(@.version=="2")].reason}: {.status.rejectedVersions[?(@.version=="2")].message}')"
  fi
  [ "$stable" = 2 ] && [ -z "$canary" ] && break
  if [ "$(now_ms)" -gt "$deadline" ]; then
    stop_watch
    die "version 2 was not promoted within ${ROLLOUT_TIMEOUT}s ($(status_line))"
  fi
  sleep 0.25
done
T_ROLLOUT=$(( $(now_ms) - T ))
stop_watch
stop_load
LOAD_V2="$("$PY" "$CLIENT" summary "$DEMO/load-v2.json")"
info "promoted: version 2 is stable after $(secs "$T_ROLLOUT")"
info "requests during the rollout: $LOAD_V2"

# ---- 8. broken version 3 ----------------------------------------------------------------------------------------
banner "Rolling out the corrupt version 3: automatic rollback"
info "kubectl patch bm $MODEL --type merge -p '{\"spec\":{\"version\":\"3\"}}'"
start_load "$DEMO/load-v3.json"
start_watch "$DEMO/load-v3.json"
sleep 1 # a baseline: the load before the change
T=$(now_ms)
k -n "$NS" patch bm "$MODEL" --type merge -p '{"spec":{"version":"3"}}' >/dev/null
deadline=$(( $(now_ms) + ROLLOUT_TIMEOUT * 1000 ))
T_REJECTED=""
while :; do
  s="$(k -n "$NS" get bm "$MODEL" -o jsonpath='{.status.stableVersion}|{.status.phase}|{.status.traffic[*].version}|{.status.rejectedVersions[*].version}' 2>/dev/null)" || s="" # retried until the deadline
  IFS='|' read -r stable phase versions rejected <<<"$s"
  if [ "$stable" = 3 ]; then stop_watch; die "the corrupt version 3 was promoted: no rollback happened"; fi
  if [[ " $rejected " == *" 3 "* ]]; then
    [ -n "$T_REJECTED" ] || T_REJECTED=$(( $(now_ms) - T ))
    # Rolled back for good: only version 2 in the traffic table, and no pod still has 3.
    [ "$versions" = 2 ] && [ "$phase" != RollingBack ] && break
  fi
  if [ "$(now_ms)" -gt "$deadline" ]; then
    stop_watch
    die "version 3 was not rolled back within ${ROLLOUT_TIMEOUT}s ($(status_line))"
  fi
  sleep 0.25
done
T_ROLLBACK=$(( $(now_ms) - T ))
stop_watch
stop_load
LOAD_V3="$("$PY" "$CLIENT" summary "$DEMO/load-v3.json")"
info "rejected after $(secs "$T_REJECTED"), rolled back (phase $phase) after $(secs "$T_ROLLBACK")"
info "requests during the failed rollout: $LOAD_V3"
echo
info "kubectl get bm $MODEL"
k -n "$NS" get bm "$MODEL" 2>&1 | indent
echo
info "kubectl berth status $MODEL"
"$KUBECTL" berth status "$MODEL" -n "$NS" 2>&1 | indent | indent
echo
info "GET $URL/v1/models/$MODEL   (TF Serving model status, as one pod sees it)"
"$PY" "$CLIENT" versions "$URL" "$MODEL" 2>&1 | cut -c1-160 | indent | indent
echo
info "kubectl get events --field-selector involvedObject.name=$MODEL"
k -n "$NS" get events --field-selector "involvedObject.name=$MODEL" \
  -o custom-columns='TYPE:.type,REASON:.reason,MESSAGE:.message' 2>&1 | cut -c1-160 | indent | indent
echo
info "status.rejectedVersions:"
k -n "$NS" get bm "$MODEL" -o jsonpath='{.status.rejectedVersions}' |
  "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))' | indent | indent
REJECTED="$(k -n "$NS" get bm "$MODEL" -o jsonpath='{.status.rejectedVersions[?(@.version=="3")].reason}')"

# ---- summary --------------------------------------------------------------------------------------------------------
cat <<EOF

==> Summary (total $(secs "$(now_ms)"))
    operator installed ($OPERATOR_MODE) in $(secs "$T_OPERATOR"); MiniLM v1 Ready in $(secs "$T_READY") on 2 pods
    embeddings: $(cat "$DEMO/similarity.txt" 2>/dev/null) (cosine)
    v1 -> v2 promoted through 20% -> 50% -> 100% in $(secs "$T_ROLLOUT"); $LOAD_V2
    v2 -> v3 (corrupt) rejected ($REJECTED) in $(secs "$T_REJECTED"), back on v2 only in $(secs "$T_ROLLBACK"); $LOAD_V3
EOF
