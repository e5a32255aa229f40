# A real single-node Kubernetes on this machine, built from upstream (docs/cluster.md).
# Included by the root Makefile (which defines ROOT, CACHE and CARGO).
#
#   make cluster-tools  kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#                       kube-proxy, etcd and pause from the Go module proxy at the versions
#                       in scripts/cluster/versions.sh, cached outside the clone
#                       (~/.cache/berth/cluster-tools/<versions>); containerd, runc and the
#                       CNI plugins from Debian
#   make cluster-up     start it (state in .cache/cluster); prints export KUBECONFIG=...
#   make cluster-down   stop every process it started and remove its network state
#   make images         berth-operator, berth-serve, berth-serve-tensorflow images (buildah),
#                       imported into the cluster; Helm values in .cache/images/values.yaml
#   make e2e-cluster    helm install/uninstall, RBAC, namespaced mode, the e2e suite and the
#                       API server differential test on the running cluster

CLUSTER_DIR    ?= $(CACHE)/cluster
CLUSTER_KUBECONFIG := $(CLUSTER_DIR)/kubeconfig
IMAGES_DIR     := $(CACHE)/images

.PHONY: cluster-tools cluster-up cluster-down images release-bins e2e-cluster

cluster-tools: ## build Kubernetes, etcd, CoreDNS and pause from the Go module proxy (cached)
	@bash $(ROOT)/scripts/cluster/build-tools.sh

cluster-up: cluster-tools k8s-tools ## start the real single-node cluster (docs/cluster.md)
	@BERTH_CLUSTER_DIR=$(CLUSTER_DIR) KUBECTL=$(PKG_TOOLS)/kubectl bash $(ROOT)/scripts/cluster/up.sh

cluster-down: ## stop the real cluster and remove its network state
	@BERTH_CLUSTER_DIR=$(CLUSTER_DIR) bash $(ROOT)/scripts/cluster/down.sh

release-bins: ## release builds of the binaries the images hold
	$(CARGO) build --release --locked -p berth-operator -p berth-serve

images: release-bins ort tf-setup ## build the operator and serving images (buildah) and import them into the cluster
	@BERTH_CLUSTER_DIR=$(CLUSTER_DIR) BERTH_IMAGES_DIR=$(IMAGES_DIR) bash $(ROOT)/scripts/cluster/images.sh build

# Everything runs against the cluster `make cluster-up` started, with the images of
# `make images`: helm install/uninstall (only the CRD stays), RBAC for real, the e2e
# suite on this ground (tests/, BERTH_E2E_KUBECONFIG), then helm uninstall.
E2E_HOST_MODELS := $(CLUSTER_DIR)/volumes/models
e2e-cluster: k8s-tools models operator-fault-models ## helm install, RBAC, namespaced mode, the e2e suite and the differential test on the real cluster
	@set -euo pipefail; export KUBECONFIG=$(CLUSTER_KUBECONFIG); \
	test -f $(CLUSTER_KUBECONFIG) && $(PKG_TOOLS)/kubectl get --raw /readyz >/dev/null 2>&1 \
	  || { echo "e2e-cluster: no cluster is running: make cluster-tools cluster-up images"; exit 1; }; \
	test -f $(IMAGES_DIR)/values.yaml || { echo "e2e-cluster: no images: make images"; exit 1; }; \
	bash $(ROOT)/scripts/cluster/images.sh import; \
	$(PKG_TOOLS)/kubectl get nodes -o wide; \
	echo "e2e-cluster: helm install/uninstall with the local images"; \
	BERTH_HELM_E2E_KUBECONFIG=$(CLUSTER_KUBECONFIG) BERTH_HELM_E2E_VALUES=$(IMAGES_DIR)/values.yaml CACHE=$(CACHE) \
	  bash $(ROOT)/scripts/packaging/helm-e2e.sh; \
	echo "e2e-cluster: helm install berth into berth-system"; \
	$(HELM) upgrade --install berth $(CHART) -n berth-system --create-namespace -f $(IMAGES_DIR)/values.yaml --wait --timeout 3m; \
	$(PKG_TOOLS)/kubectl get pods -A -o wide; \
	PROBE_IMAGE=$$(grep /e2e-kubectl: $(IMAGES_DIR)/refs.txt) KUBECTL=$(PKG_TOOLS)/kubectl \
	  OPERATOR_SA=system:serviceaccount:berth-system:berth-operator bash $(ROOT)/scripts/cluster/e2e-rbac.sh; \
	mkdir -p $(E2E_HOST_MODELS); \
	VALUES=$(IMAGES_DIR)/values.yaml HOST_MODELS=$(E2E_HOST_MODELS) KUBECTL=$(PKG_TOOLS)/kubectl HELM=$(HELM) \
	  bash $(ROOT)/scripts/cluster/e2e-namespaced.sh; \
	BERTH_E2E_KUBECONFIG=$(CLUSTER_KUBECONFIG) BERTH_E2E_HOST_MODELS=$(E2E_HOST_MODELS) $(MAKE) --no-print-directory e2e-suite-cluster; \
	echo "e2e-cluster: berth-apiserver against the real kube-apiserver"; \
	$(MAKE) --no-print-directory apiserver-differential-live; \
	echo "e2e-cluster: helm uninstall berth"; \
	$(HELM) uninstall berth -n berth-system --wait; \
	echo "e2e-cluster: all checks passed"
