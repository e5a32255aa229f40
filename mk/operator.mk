# berth-operator: the controller and the hot-update engine. See docs/operator.md and
# docs/rollout.md. Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make operator-test  unit, property and API-server tests of the operator (also run by
#                       `make unit` through `cargo test --workspace`)
#   make operator-e2e   the end-to-end suite (package berth-e2e, tests/) on berth-local:
#                       real berth-serve pods with the tiny models and MiniLM and a load
#                       generator: rollouts, every rollback cause, operator and pod
#                       restarts, pause/resume, scale-up, re-apply, delete
#   make e2e-suite-cluster  the same suite on a real cluster with the chart installed
#                       (BERTH_E2E_KUBECONFIG, BERTH_E2E_HOST_MODELS; see tests/src/ground.rs),
#                       without the tests only berth-local can run
#   make operator-fault-models  versions of the tiny model that fail requests or are
#                       slow inside ONNX Runtime (scripts/build_fault_models.py)

.PHONY: operator-test operator-e2e e2e-suite-cluster

operator-test: ## the operator crate tests
	$(CARGO) test --locked -p berth-operator

FAULT_MODELS := $(CACHE)/models/faults
.PHONY: operator-fault-models
operator-fault-models: models ## tiny-model versions that fail requests, are slow, drift or swap labels
	@stamp=$(FAULT_MODELS)/.stamp-$$(cat $(ROOT)/scripts/build_fault_models.py $(CACHE)/models/tiny/2/model.onnx \
	  $(CACHE)/models/tiny-classifier/1/config.json | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ]; then rm -rf $(FAULT_MODELS) && \
	  $(MODELS_PY) $(ROOT)/scripts/build_fault_models.py --src $(CACHE)/models/tiny/2 --out $(FAULT_MODELS) \
	  --classifier-src $(CACHE)/models/tiny-classifier/1 \
	  2> >(grep -v 'out of data bounds' >&2) && touch $$stamp; fi

# The fault models of MiniLM (errors/, slow/), for the suite's MiniLM scenario and the
# rollout bench.
FAULT_MODELS_MINILM := $(CACHE)/models/faults-minilm
.PHONY: operator-fault-models-minilm
operator-fault-models-minilm: models ## MiniLM versions that fail requests or are slow
	@stamp=$(FAULT_MODELS_MINILM)/.stamp-$$(cat $(ROOT)/scripts/build_fault_models.py | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ]; then rm -rf $(FAULT_MODELS_MINILM) && \
	  $(MODELS_PY) $(ROOT)/scripts/build_fault_models.py --src $(CACHE)/models/minilm/1 \
	  --out $(FAULT_MODELS_MINILM) 2> >(grep -v 'out of data bounds' >&2) && touch $$stamp; fi

# One test at a time: each starts a cluster of real processes (or a namespace on a
# shared cluster) and times its rollbacks. bench_* are benchmarks (operator-rollout-bench).
E2E_ARGS := --ignored --nocapture --test-threads=1 --skip bench_
# Tests the cluster ground cannot run (the test binary tests/tests/local_only.rs), each
# with its reason.
E2E_LOCAL_ONLY := "versions_from_an_s3_bucket_with_credentials_from_a_secret does not run on the cluster ground: moto listens on the host's 127.0.0.1, which pods cannot reach"

operator-e2e: models models-int8 operator-fault-models operator-fault-models-minilm ## the e2e suite on berth-local: real berth-serve pods, rollouts, rollbacks, restarts
	$(BUILD_ALL)
	ORT_DYLIB_PATH=$(CACHE)/ort/libonnxruntime.so BERTH_E2E_KUBECONFIG= \
		$(CARGO) test --locked -p berth-e2e --test e2e --test local_only -- $(E2E_ARGS)
TEST_TARGETS += operator-e2e

# The suite on a real cluster on which `make e2e-cluster` installed the chart. Runs on
# the cluster's (single) node: BERTH_E2E_HOST_MODELS is a directory there that the
# tests write and the pods mount through hostPath PersistentVolumes.
e2e-suite-cluster: models models-int8 operator-fault-models operator-fault-models-minilm ## the e2e suite on a real cluster (BERTH_E2E_KUBECONFIG)
	@test -n "$(BERTH_E2E_KUBECONFIG)" || { echo "e2e-suite-cluster: set BERTH_E2E_KUBECONFIG to the cluster's admin kubeconfig" >&2; exit 1; }
	@test -f "$(BERTH_E2E_KUBECONFIG)" || { echo "e2e-suite-cluster: BERTH_E2E_KUBECONFIG=$(BERTH_E2E_KUBECONFIG) is not a file" >&2; exit 1; }
	@test -n "$(BERTH_E2E_HOST_MODELS)" || { echo "e2e-suite-cluster: set BERTH_E2E_HOST_MODELS to a host directory for the model volumes" >&2; exit 1; }
	$(BUILD_ALL)
	@for line in $(E2E_LOCAL_ONLY); do echo "e2e: $$line"; done
	BERTH_E2E_KUBECONFIG="$(BERTH_E2E_KUBECONFIG)" BERTH_E2E_HOST_MODELS="$(BERTH_E2E_HOST_MODELS)" \
		$(CARGO) test --locked -p berth-e2e --test e2e -- $(E2E_ARGS)

# Benchmarks: 1,000 BertModels with replicas 0 (time to reconcile all, peak memory).
# The end-to-end rollout timings are printed by operator-e2e.
.PHONY: operator-bench
operator-bench: ## reconcile throughput with many models (release build)
	$(CARGO) build --locked --release -p berth-operator
	BERTH_OPERATOR_BIN=$(ROOT)/target/release/berth-operator \
		$(CARGO) test --locked -p berth-operator --test bench_scale -- --ignored --nocapture

BENCH_TARGETS += operator-bench

# Rollout timings on MiniLM with real pods: spec.version -> 100% without pauses, and
# the rollback reaction to a canary that fails its requests.
.PHONY: operator-rollout-bench
operator-rollout-bench: models operator-fault-models-minilm ## time to roll out and roll back MiniLM on berth-local
	$(BUILD_ALL)
	ORT_DYLIB_PATH=$(CACHE)/ort/libonnxruntime.so \
		$(CARGO) test --locked -p berth-e2e --test e2e -- --ignored --nocapture --exact minilm::bench_rollout_on_minilm

BENCH_TARGETS += operator-rollout-bench

# The children the operator makes for every example BertModel, validated strictly
# against the Kubernetes $(KUBE_VERSION) schemas (kubernetes-validate, packaging venv).
.PHONY: operator-render-check
operator-render-check: k8s-tools ## what the operator renders validates against Kubernetes
	@$(BUILD_ALL)
	@set -e; for f in $(ROOT)/deploy/examples/*.yaml; do \
		$(ROOT)/target/debug/berth-operator render $$f; \
	done | $(PKG_PY) $(PKG_SCRIPTS)/validate-manifests.py --kube-version $(KUBE_VERSION) --crd $(CRD_SRC) -

TEST_TARGETS += operator-render-check
