# berth-operator: the controller and the hot-update engine. See docs/operator.md and
# docs/rollout.md. Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make operator-test  unit, property and API-server tests of the operator (also run by
#                       `make unit` through `cargo test --workspace`)
#   make operator-e2e   real berth-serve pods on berth-local with the tiny models:
#                       create -> Ready, rollout 1 -> 2 promoted, broken 3 rolled back

.PHONY: operator-test operator-e2e

operator-test:
	$(CARGO) test --locked -p berth-operator

operator-e2e: models
	$(BUILD_ALL)
	ORT_DYLIB_PATH=$(CACHE)/ort/libonnxruntime.so \
		$(CARGO) test --workspace --locked --test e2e_local -- --ignored --nocapture
TEST_TARGETS += operator-e2e

# Benchmarks: 1,000 BertModels with replicas 0 (time to reconcile all, peak memory).
# The end-to-end rollout timings are printed by operator-e2e.
.PHONY: operator-bench
operator-bench:
	$(CARGO) build --locked --release -p berth-operator
	BERTH_OPERATOR_BIN=$(ROOT)/target/release/berth-operator \
		$(CARGO) test --locked -p berth-operator --test bench_scale -- --ignored --nocapture

BENCH_TARGETS += operator-bench

# The children the operator makes for every example BertModel, validated strictly
# against the Kubernetes $(KUBE_VERSION) schemas (kubernetes-validate, packaging venv).
.PHONY: operator-render-check
operator-render-check: k8s-tools
	@$(BUILD_ALL)
	@set -e; for f in $(ROOT)/deploy/examples/*.yaml; do \
		$(ROOT)/target/debug/berth-operator render $$f; \
	done | $(PKG_PY) $(PKG_SCRIPTS)/validate-manifests.py --kube-version $(KUBE_VERSION) --crd $(CRD_SRC) -

TEST_TARGETS += operator-render-check
