# berth-operator: the controller and the hot-update engine. See docs/operator.md and
# docs/rollout.md. Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make operator-test  unit, property and API-server tests of the operator (also run by
#                       `make unit` through `cargo test --workspace`)
#   make operator-e2e   real berth-serve pods on berth-local with the tiny models and
#                       a load generator: rollouts, every rollback cause, operator and
#                       pod restarts, pause/resume, scale-up, re-apply, delete
#   make operator-fault-models  versions of the tiny model that fail requests or are
#                       slow inside ONNX Runtime (scripts/build_fault_models.py)

.PHONY: operator-test operator-e2e

operator-test:
	$(CARGO) test --locked -p berth-operator

FAULT_MODELS := $(CACHE)/models/faults
.PHONY: operator-fault-models
operator-fault-models: models
	@stamp=$(FAULT_MODELS)/.stamp-$$(cat $(ROOT)/scripts/build_fault_models.py $(CACHE)/models/tiny/2/model.onnx \
	  | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ]; then rm -rf $(FAULT_MODELS) && \
	  $(MODELS_PY) $(ROOT)/scripts/build_fault_models.py --src $(CACHE)/models/tiny/2 --out $(FAULT_MODELS) \
	  2> >(grep -v 'out of data bounds' >&2) && touch $$stamp; fi

# One test at a time: each starts a cluster of real processes and times its rollbacks.
operator-e2e: models operator-fault-models
	$(BUILD_ALL)
	ORT_DYLIB_PATH=$(CACHE)/ort/libonnxruntime.so \
		$(CARGO) test --workspace --locked --test e2e_local -- --ignored --nocapture --test-threads=1 --skip bench_
TEST_TARGETS += operator-e2e

# Benchmarks: 1,000 BertModels with replicas 0 (time to reconcile all, peak memory).
# The end-to-end rollout timings are printed by operator-e2e.
.PHONY: operator-bench
operator-bench:
	$(CARGO) build --locked --release -p berth-operator
	BERTH_OPERATOR_BIN=$(ROOT)/target/release/berth-operator \
		$(CARGO) test --locked -p berth-operator --test bench_scale -- --ignored --nocapture

BENCH_TARGETS += operator-bench

# Rollout timings on MiniLM with real pods: spec.version -> 100% without pauses, and
# the rollback reaction to a canary that fails its requests.
.PHONY: operator-rollout-bench
operator-rollout-bench: models
	@stamp=$(CACHE)/models/faults-minilm/.stamp-$$(cat $(ROOT)/scripts/build_fault_models.py | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ]; then rm -rf $(CACHE)/models/faults-minilm && \
	  $(MODELS_PY) $(ROOT)/scripts/build_fault_models.py --src $(CACHE)/models/minilm/1 \
	  --out $(CACHE)/models/faults-minilm 2> >(grep -v 'out of data bounds' >&2) && touch $$stamp; fi
	$(BUILD_ALL)
	ORT_DYLIB_PATH=$(CACHE)/ort/libonnxruntime.so \
		$(CARGO) test --workspace --locked --test e2e_local -- --ignored --nocapture --exact bench_rollout_on_minilm

BENCH_TARGETS += operator-rollout-bench

# The children the operator makes for every example BertModel, validated strictly
# against the Kubernetes $(KUBE_VERSION) schemas (kubernetes-validate, packaging venv).
.PHONY: operator-render-check
operator-render-check: k8s-tools
	@$(BUILD_ALL)
	@set -e; for f in $(ROOT)/deploy/examples/*.yaml; do \
		$(ROOT)/target/debug/berth-operator render $$f; \
	done | $(PKG_PY) $(PKG_SCRIPTS)/validate-manifests.py --kube-version $(KUBE_VERSION) --crd $(CRD_SRC) -

TEST_TARGETS += operator-render-check
