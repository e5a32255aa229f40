# berth-apiserver: the in-memory Kubernetes API server berth-local embeds.
# Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make apiserver-test   semantics through the kube client + kubectl/helm acceptance
#   make apiserver-differential-live  berth-apiserver vs a private real kube-apiserver
#   make apiserver-bench  create and watch fan-out throughput, 1,000 custom resources
#                         and 10 watchers (release build)

.PHONY: apiserver-test apiserver-bench

apiserver-test: k8s-tools ## berth-apiserver tests, kubectl/helm acceptance included
	$(CARGO) test --locked -p berth-apiserver -- --include-ignored --skip bench_

apiserver-bench: ## berth-apiserver create and watch fan-out throughput (release build)
	$(CARGO) test --locked --release -p berth-apiserver --test api bench -- --ignored --nocapture

BENCH_TARGETS += apiserver-bench

# The differential test live: a private etcd + kube-apiserver v1.36.3 (from
# `make cluster-tools`, never the cluster on 6443) and berth-apiserver answer the
# same requests; fails if they differ beyond tests/differential/accepted.json or
# if the golden file no longer matches the real server.
.PHONY: apiserver-differential-live apiserver-differential-record
apiserver-differential-live: ## berth-apiserver vs a private real kube-apiserver on the same requests
	@bin="$$(bash $(ROOT)/scripts/cluster/build-tools.sh --print-dir)/bin"; \
	if [ ! -x "$$bin/kube-apiserver" ] || [ ! -x "$$bin/etcd" ]; then \
	  echo "apiserver-differential-live: kube-apiserver and etcd are not built in $$bin: run 'make cluster-tools' first"; exit 1; fi; \
	BERTH_CLUSTER_TOOLS_BIN="$$bin" BERTH_DIFF_LIVE=1 $(CARGO) test --locked -p berth-apiserver --test differential -- --nocapture

# Rewrite tests/differential/kube-v1.36.3.json from the real server.
apiserver-differential-record: ## rewrite the differential golden file from the real kube-apiserver
	@bin="$$(bash $(ROOT)/scripts/cluster/build-tools.sh --print-dir)/bin"; \
	BERTH_CLUSTER_TOOLS_BIN="$$bin" BERTH_DIFF_RECORD=1 $(CARGO) test --locked -p berth-apiserver --test differential -- --nocapture
