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

.PHONY: help test lint fmt-check clippy unit crds crd-drift bench
help:
	@echo "make test    - everything CI runs (fmt, clippy, unit tests, CRD drift, manifest checks, ...)"
	@echo "make lint    - fmt check and clippy"
	@echo "make crds    - regenerate crds/ from the Rust types"
	@echo "make bench   - slow benchmarks (not part of test)"
	@echo "make cluster-tools cluster-up images e2e-cluster cluster-down"
	@echo "             - a real single-node Kubernetes built here, Berth's images, the e2e suite on it (docs/cluster.md)"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

lint: fmt-check clippy

unit:
	$(CARGO) test --workspace --locked

# The chart's copy of the CRD and the rendered install manifest follow crds/.
crds:
	$(CARGO) run -q --locked -p berth-operator -- crd > crds/bertmodels.berth.dev.yaml
	$(MAKE) --no-print-directory chart-crds install-yaml

# Fails when crds/ differs from what the code generates (someone edited it by hand,
# or changed the types without `make crds`).
crd-drift:
	@tmp=$$(mktemp); $(CARGO) run -q --locked -p berth-operator -- crd > $$tmp; \
	if ! diff -u crds/bertmodels.berth.dev.yaml $$tmp; then \
	  echo "crds/bertmodels.berth.dev.yaml is out of date: run 'make crds' and commit"; rm -f $$tmp; exit 1; fi; \
	rm -f $$tmp; echo "crd-drift: crds/ matches the code"

test: lint unit crd-drift $(TEST_TARGETS)
	@echo "make test: all checks passed"

bench: $(BENCH_TARGETS)
