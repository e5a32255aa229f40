#!/usr/bin/env python3
"""Checks what the rendered chart must guarantee, beyond schema validity.

usage: check-chart.py DEFAULT.yaml ALL-FEATURES.yaml MINIMAL.yaml PROMTOOL

- the operator Deployment: 2 replicas, leader-election env from the downward API,
  BERTH_SERVE_IMAGE, args, probes on /healthz and /readyz, requests/limits,
  non-root, read-only root filesystem, RuntimeDefault seccomp, ALL capabilities
  dropped, no privilege escalation;
- RBAC is exactly the contract (no wildcard, no extra kinds or verbs), cluster-wide by
  default and per namespace with watchNamespaces (and then --namespaces is passed);
- leases only in the release namespace;
- the PrometheusRule's groups pass `promtool check rules`; the ServiceMonitor
  yields job="berth-operator"; the dashboard ConfigMap holds valid JSON.
"""
import json
import os
import subprocess
import sys
import tempfile

import yaml

default_f, all_f, min_f, promtool = sys.argv[1:5]
NS = "berth-system"
errors = []
checks = 0


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        errors.append(msg)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def rules_of(doc):
    out = set()
    for r in doc["rules"]:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                for v in r["verbs"]:
                    out.add((g, res, v))
    return out


WORKLOAD_RULES = set()
for g, res, verbs in [
    ("berth.dev", "bertmodels", "get list watch patch update"),
    ("berth.dev", "bertmodels/status", "get patch update"),
    ("apps", "deployments", "get list watch create patch update delete"),
    ("", "services", "get list watch create patch update delete"),
    ("", "serviceaccounts", "get list watch create patch update delete"),
    ("rbac.authorization.k8s.io", "roles", "get list watch create patch update delete"),
    ("rbac.authorization.k8s.io", "rolebindings", "get list watch create patch update delete"),
    ("policy", "poddisruptionbudgets", "get list watch create patch update delete"),
    ("", "pods", "get list watch"),
    # Held only to grant a model's pods get on its rollout.goldenSet ConfigMap.
    ("", "configmaps", "get"),
    ("", "events", "create patch"),
    ("events.k8s.io", "events", "create patch"),
]:
    for v in verbs.split():
        WORKLOAD_RULES.add((g, res, v))
LEASE_RULES = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update", "patch")}


def check_deployment(docs, label, replicas=2):
    deps = find(docs, "Deployment")
    check(len(deps) == 1, f"{label}: one Deployment, got {len(deps)}")
    if not deps:
        return None
    d = deps[0]
    spec = d["spec"]
    check(spec["replicas"] == replicas, f"{label}: replicas {spec['replicas']} != {replicas}")
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    check(pod["securityContext"].get("runAsNonRoot") is True, f"{label}: pod runAsNonRoot")
    check(pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: pod seccomp")
    sc = c["securityContext"]
    check(sc.get("readOnlyRootFilesystem") is True, f"{label}: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, f"{label}: allowPrivilegeEscalation false")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{label}: capabilities drop ALL")
    check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: container seccomp")
    check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{label}: liveness /healthz")
    check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{label}: readiness /readyz")
    check(c["resources"].get("requests", {}).get("cpu") and c["resources"].get("requests", {}).get("memory"),
          f"{label}: resource requests")
    check(c["resources"].get("limits", {}).get("memory"), f"{label}: memory limit")
    check(c["args"][:3] == ["run", "--metrics-bind", "0.0.0.0:8080"], f"{label}: args {c['args']}")
    env = {e["name"]: e for e in c["env"]}
    check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
          f"{label}: POD_NAME from the downward API")
    check(env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace",
          f"{label}: POD_NAMESPACE from the downward API")
    check("BERTH_SERVE_IMAGE" in env, f"{label}: BERTH_SERVE_IMAGE")
    check(c["ports"][0]["containerPort"] == 8080, f"{label}: port 8080")
    return d


# ---- defaults -------------------------------------------------------------------
docs = load(default_f)
d = check_deployment(docs, "default")
if d:
    c = d["spec"]["template"]["spec"]["containers"][0]
    check(c["image"] == "ghcr.io/berth-dev/berth-operator:" + d["metadata"]["labels"]["app.kubernetes.io/version"],
          f"default: operator image {c['image']}")
    env = {e["name"]: e.get("value") for e in c["env"]}
    check(env["BERTH_SERVE_IMAGE"].startswith("ghcr.io/berth-dev/berth-serve:"), f"default: serving image {env['BERTH_SERVE_IMAGE']}")
    check("--namespaces" not in c["args"], "default: no --namespaces")
    check(c["args"][3:5] == ["--log-format", "json"], f"default: --log-format json ({c['args']})")
crs = [r for r in find(docs, "ClusterRole") if "aggregate" not in json.dumps(r["metadata"].get("labels", {}))]
check(len(crs) == 1, f"default: one operator ClusterRole, got {[r['metadata']['name'] for r in crs]}")
if crs:
    got = rules_of(crs[0])
    check(got == WORKLOAD_RULES, f"default: ClusterRole rules differ from the contract: extra {sorted(got - WORKLOAD_RULES)}, "
                                 f"missing {sorted(WORKLOAD_RULES - got)}")
    check("*" not in json.dumps(crs[0]["rules"]), "default: no wildcard in the ClusterRole")
roles = find(docs, "Role")
check(len(roles) == 1 and roles[0]["metadata"]["namespace"] == NS and rules_of(roles[0]) == LEASE_RULES,
      "default: exactly one Role, leases in the release namespace")
check(len(find(docs, "ClusterRoleBinding")) == 1, "default: one ClusterRoleBinding")
check(len(find(docs, "PodDisruptionBudget")) == 1, "default: a PodDisruptionBudget")
check(len(find(docs, "Service")) == 1, "default: a metrics Service")
for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "NetworkPolicy", "ConfigMap"):
    check(not find(docs, kind), f"default: no {kind} unless enabled")
for doc in docs:
    if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"):
        check(doc["metadata"].get("namespace") == NS, f"default: {doc['kind']} {doc['metadata']['name']} has namespace {NS}")

# ---- every feature on -----------------------------------------------------------
docs = load(all_f)
d = check_deployment(docs, "all-features")
if d:
    c = d["spec"]["template"]["spec"]["containers"][0]
    i = c["args"].index("--namespaces") if "--namespaces" in c["args"] else -1
    check(i > 0 and c["args"][i + 1] == "ml,ml-staging", f"all-features: --namespaces ml,ml-staging ({c['args']})")
    check("--log-format" not in c["args"], "all-features: logFormat text passes no --log-format")
    check("@sha256:" in c["image"], f"all-features: image by digest ({c['image']})")
check(not [r for r in find(docs, "ClusterRole") if "aggregate" not in json.dumps(r["metadata"].get("labels", {}))],
      "all-features: watchNamespaces must not create the operator ClusterRole")
check(not find(docs, "ClusterRoleBinding"), "all-features: no ClusterRoleBinding with watchNamespaces")
for ns in ("ml", "ml-staging"):
    r = [x for x in find(docs, "Role") if x["metadata"]["namespace"] == ns]
    check(len(r) == 1 and rules_of(r[0]) == WORKLOAD_RULES, f"all-features: Role with the contract's rules in {ns}")
    check(len([x for x in find(docs, "RoleBinding") if x["metadata"]["namespace"] == ns]) == 1,
          f"all-features: RoleBinding in {ns}")
sm = find(docs, "ServiceMonitor")
check(len(sm) == 1 and sm[0]["spec"]["jobLabel"] == "app.kubernetes.io/name", "all-features: ServiceMonitor jobLabel")
check(len(sm) == 1 and sm[0]["spec"]["endpoints"][0].get("honorLabels") is True,
      "all-features: ServiceMonitor honorLabels (keeps the model's namespace label)")
svc = find(docs, "Service")
check(svc and svc[0]["metadata"]["labels"]["app.kubernetes.io/name"] == "berth-operator",
      "all-features: the metrics Service is labelled app.kubernetes.io/name=berth-operator (job label)")
pm = find(docs, "PodMonitor")
check(len(pm) == 1 and pm[0]["spec"]["namespaceSelector"].get("matchNames") == ["ml", "ml-staging"],
      "all-features: PodMonitor limited to the watched namespaces")
check(len(find(docs, "NetworkPolicy")) == 1, "all-features: NetworkPolicy")
pr = find(docs, "PrometheusRule")
check(len(pr) == 1, "all-features: PrometheusRule")
if pr:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"groups": pr[0]["spec"]["groups"]}, f)
        path = f.name
    p = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    os.unlink(path)
    check(p.returncode == 0, f"all-features: the PrometheusRule fails promtool check rules:\n{p.stdout}{p.stderr}")
    with open(os.path.join(os.path.dirname(__file__), "../../deploy/prometheus/berth-alerts.yaml")) as f:
        src = yaml.safe_load(f)
    check(pr[0]["spec"]["groups"] == src["groups"], "all-features: PrometheusRule groups == deploy/prometheus/berth-alerts.yaml")
cm = [x for x in find(docs, "ConfigMap") if "berth-dashboard.json" in x.get("data", {})]
check(len(cm) == 1 and cm[0]["metadata"]["namespace"] == "monitoring", "all-features: dashboard ConfigMap in monitoring")
if cm:
    try:
        json.loads(cm[0]["data"]["berth-dashboard.json"])
        check(True, "")
    except ValueError as e:
        check(False, f"all-features: dashboard ConfigMap JSON: {e}")

# ---- minimal ----------------------------------------------------------------------
docs = load(min_f)
check_deployment(docs, "minimal", replicas=1)
check(not find(docs, "PodDisruptionBudget"), "minimal: no PDB for one replica")
check(not [x for x in docs if x["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount")],
      "minimal: rbac.create=false and serviceAccount.create=false create no RBAC or ServiceAccount")
d = find(docs, "Deployment")
check(d and d[0]["spec"]["template"]["spec"]["serviceAccountName"] == "existing", "minimal: uses the named ServiceAccount")

for e in errors:
    print("FAIL check-chart:", e)
print(f"check-chart: {checks - len(errors)} of {checks} checks passed")
sys.exit(1 if errors else 0)
