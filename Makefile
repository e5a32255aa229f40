# Berth: every command the README names lives here. Parts of the project add
# their own targets in mk/*.mk; `make test` runs everything CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE ?= $(ROOT)/.cache
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

# Build every binary and test once, with the feature resolution `make unit` uses, so
# that no later target rebuilds shared dependencies with another feature set.
BUILD_ALL = $(CARGO) test --workspace --locked --no-run -q

# Each mk/*.mk appends its test targets to TEST_TARGETS and bench targets to BENCH_TARGETS.
TEST_TARGETS :=
BENCH_TARGETS :=
-include $(sort $(wildcard mk/*.mk))

.PHONY: help test lint fmt-check clippy unit model-tests tool-tests crds crd-drift bench
# Every target carries a `## what it does` on its line; help lists them all.
help: ## this list
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  awk -F':.*## ' '{ printf "make %-30s %s\n", $$1, $$2 }'

# A machine without rustfmt or clippy (a toolchain without the components) says so
# and goes on: the rest of `make test` still means something there.
fmt-check: ## cargo fmt --check (says so and goes on when rustfmt is missing)
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --all -- --check; \
	else echo "fmt-check: SKIPPED: rustfmt is not installed for this toolchain"; fi

clippy: ## cargo clippy -D warnings (says so and goes on when clippy is missing)
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --workspace --all-targets --locked -- -D warnings; \
	else echo "clippy: SKIPPED: clippy is not installed for this toolchain"; fi

lint: fmt-check clippy ## fmt check and clippy

# Needs nothing but cargo: no models, no network, no venv. Tests that need more are
# `#[ignore = "needs ..."]` and run below, explicitly, so none passes by skipping.
unit: ## every crate's tests that need nothing but cargo
	$(CARGO) test --workspace --locked

# The test targets whose ignored tests need `make models tf-models` (berth-serve's real
# binary on real models) and `make k8s-tools` (kubectl, helm). The same --workspace
# feature resolution as `make unit`, so nothing is rebuilt.
MODEL_TESTS := --test rest --test grpc --test lifecycle --test pooling --test controlled --test golden_set \
               --test tensorflow --test tfserving --test tei --test openai
TOOL_TESTS  := --test api --test kubelet --test workloads
model-tests: models tf-models operator-fault-models ## the ignored tests that need the models (the fault models too) and ONNX Runtime / TensorFlow
	$(TF_RUN_ENV) $(CARGO) test --workspace --locked $(MODEL_TESTS) -- --ignored

# --skip bench_: berth-apiserver's benchmark is ignored too and belongs to `make bench`.
tool-tests: k8s-tools ## the ignored tests that need kubectl and helm
	$(CARGO) test --workspace --locked $(TOOL_TESTS) -- --ignored --skip bench_

# The chart's copy of the CRD and the rendered install manifest follow crds/.
crds: ## regenerate crds/ (and the chart copy, install.yaml) from the Rust types
	$(CARGO) run -q --locked -p berth-operator -- crd > crds/bertmodels.berth.dev.yaml
	$(MAKE) --no-print-directory chart-crds install-yaml

# Fails when crds/ differs from what the code generates (someone edited it by hand,
# or changed the types without `make crds`).
crd-drift: ## fail when crds/ differs from what the types generate
	@tmp=$$(mktemp); $(CARGO) run -q --locked -p berth-operator -- crd > $$tmp; \
	if ! diff -u crds/bertmodels.berth.dev.yaml $$tmp; then \
	  echo "crds/bertmodels.berth.dev.yaml is out of date: run 'make crds' and commit"; rm -f $$tmp; exit 1; fi; \
	rm -f $$tmp; echo "crd-drift: crds/ matches the code"

test: lint unit model-tests tool-tests crd-drift $(TEST_TARGETS) ## everything CI runs before the real cluster
	@echo "make test: all checks passed"

bench: $(BENCH_TARGETS) ## slow benchmarks (not part of test)
