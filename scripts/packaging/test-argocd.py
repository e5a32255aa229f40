#!/usr/bin/env python3
"""Runs the Argo CD health check and resource actions for BertModel in a real Lua
interpreter over the recorded objects in deploy/argocd/testdata/, and the Flux
healthCheckExprs (deploy/flux/kustomization.yaml) in a real CEL interpreter
(cel-expr-python, Google's C++ CEL runtime) over the same objects.

usage: test-argocd.py ROOT LUA

Each testdata file holds two YAML documents: a BertModel (as the API server would
return it) and `expect:` with the health status and message and, optionally, which
actions discovery.lua disables. Every action is also applied to every object and
its effect checked: exactly the intended field changes, nothing else.
Needs PyYAML (the packaging venv has it). Prints "N passed, M failed".
"""
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile

import yaml

ROOT, LUA = sys.argv[1], sys.argv[2]
ARGO = os.path.join(ROOT, "deploy/argocd")
HARNESS = os.path.join(ROOT, "scripts/packaging/argocd-harness.lua")


def lua_literal(v):
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        out = []
        for ch in v:
            o = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif o < 32 or o == 127:
                out.append("\\%03d" % o)
            else:
                out.append(ch)
        return '"' + "".join(out).encode("utf-8").decode("utf-8") + '"'
    if isinstance(v, list):
        return "{" + ", ".join(lua_literal(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("[%s] = %s" % (lua_literal(str(k)), lua_literal(x))
                              for k, x in v.items() if x is not None) + "}"
    # YAML timestamps are kept as strings by the loader below; anything else is a bug here.
    raise TypeError(f"cannot convert {type(v).__name__} to Lua")


class StrTimestampLoader(yaml.SafeLoader):
    """YAML 1.1 would turn unquoted timestamps into datetime; the API server sends strings."""


StrTimestampLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def run(script, obj):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("return " + lua_literal(obj) + "\n")
        path = f.name
    try:
        p = subprocess.run([LUA, HARNESS, script, path], capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip() or f"lua exited {p.returncode}")
    return json.loads(p.stdout)


def norm(v):
    """Lua cannot tell {} from []: compare empty containers as None, drop None values."""
    if isinstance(v, dict):
        d = {k: norm(x) for k, x in v.items()}
        d = {k: x for k, x in d.items() if x is not None}
        return d or None
    if isinstance(v, list):
        return [norm(x) for x in v] or None
    return v


def expected_after(action, obj):
    want = copy.deepcopy(obj)
    if action in ("pause", "resume"):
        want.setdefault("spec", {}).setdefault("rollout", {})["paused"] = action == "pause"
    else:
        want["metadata"].setdefault("annotations", {})[f"berth.dev/{action}"] = "true"
    return want


passed, failed = 0, []


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
    else:
        failed.append(f"{name}: {detail}")


files = sorted(glob.glob(os.path.join(ARGO, "testdata/*.yaml")))
if not files:
    sys.exit("test-argocd: no testdata")
actions = sorted(d for d in os.listdir(os.path.join(ARGO, "actions"))
                 if os.path.isfile(os.path.join(ARGO, "actions", d, "action.lua")))
seen_health = set()
for path in files:
    case = os.path.basename(path)
    with open(path) as f:
        docs = list(yaml.load_all(f, Loader=StrTimestampLoader))
    obj, expect = docs[0], docs[1]["expect"]
    try:
        hs = run(os.path.join(ARGO, "health.lua"), obj)
        seen_health.add(hs.get("status"))
        check(f"{case} health", hs.get("status") == expect["health"] and
              ("message" not in expect or hs.get("message") == expect["message"]),
              f"got {hs}, want status {expect['health']!r} message {expect.get('message')!r}")
        disc = run(os.path.join(ARGO, "actions/discovery.lua"), obj)
        check(f"{case} discovery lists {actions}", sorted(disc) == actions, f"got {sorted(disc)}")
        for a, disabled in (expect.get("actionsDisabled") or {}).items():
            got = (disc.get(a) or {}).get("disabled")
            check(f"{case} discovery {a}", got == disabled, f"disabled={got}, want {disabled}")
        for a in actions:
            out = run(os.path.join(ARGO, "actions", a, "action.lua"), obj)
            want = expected_after(a, obj)
            check(f"{case} action {a}", norm(out) == norm(want),
                  "unexpected result:\n    got  " + json.dumps(norm(out), sort_keys=True) +
                  "\n    want " + json.dumps(norm(want), sort_keys=True))
    except Exception as e:  # a Lua error is a failed case, not a crash of the runner
        failed.append(f"{case}: {e}")

# ---- Flux: healthCheckExprs evaluated the way kustomize-controller does ----------------
try:
    from cel_expr_python import cel
except ImportError:
    cel = None
    failed.append("flux: cel-expr-python is not installed (scripts/fetch-k8s-tools.sh installs it)")

FLUX_FOR_ARGO = {"Healthy": "Current", "Degraded": "Failed", "Progressing": "InProgress", "Suspended": "InProgress"}


def flux_status(exprs, obj):
    """kustomize-controller's order: observedGeneration first, then inProgress, failed, current."""
    gen = (obj.get("metadata") or {}).get("generation")
    og = (obj.get("status") or {}).get("observedGeneration")
    if og is not None and gen is not None and og != gen:
        return "InProgress", "observedGeneration differs"
    for key, result in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        if key not in exprs:
            continue
        v = exprs[key].eval(data={k: obj[k] for k in ("metadata", "spec", "status") if k in obj})
        if v.type() == cel.Type.ERROR:
            # Flux treats an evaluation error as not healthy yet and retries until the timeout.
            return "InProgress", f"{key}: evaluation error {v.plain_value()}"
        if v.plain_value() is True:
            return result, key
    return "InProgress", "no expression matched"


def kstatus(obj):
    """kstatus without healthCheckExprs (what `wait: true` uses for custom resources)."""
    gen = (obj.get("metadata") or {}).get("generation")
    st = obj.get("status") or {}
    if st.get("observedGeneration") is not None and st.get("observedGeneration") != gen:
        return "InProgress"
    for c in st.get("conditions") or []:
        if c.get("type") == "Reconciling" and c.get("status") == "True":
            return "InProgress"
        if c.get("type") == "Stalled" and c.get("status") == "True":
            return "Failed"
    return "Current"


if cel is not None:
    with open(os.path.join(ROOT, "deploy/flux/kustomization.yaml")) as f:
        ks = yaml.safe_load(f)
    checks = [h for h in ks["spec"]["healthCheckExprs"] if h["kind"] == "BertModel"]
    check("flux: one healthCheckExprs entry for BertModel", len(checks) == 1, f"got {len(checks)}")
    env = cel.NewEnv(variables={v: cel.Type.Map(cel.Type.STRING, cel.Type.DYN) for v in ("metadata", "spec", "status")})
    compiled = {}
    for key in ("inProgress", "failed", "current"):
        if key in checks[0]:
            try:
                compiled[key] = env.compile(checks[0][key])
            except Exception as e:
                failed.append(f"flux: {key} does not compile: {e}")
    with open(os.path.join(ROOT, "docs/gitops.md")) as f:
        gitops_doc = " ".join(f.read().split())
    for key, text in checks[0].items():
        if key in ("inProgress", "failed", "current"):
            check(f"flux: docs/gitops.md shows the tested {key} expression", " ".join(text.split()) in gitops_doc,
                  "copy deploy/flux/kustomization.yaml into docs/gitops.md")
    kstatus_gaps = []
    for path in files:
        case = os.path.basename(path)
        with open(path) as f:
            docs = list(yaml.load_all(f, Loader=StrTimestampLoader))
        obj, expect = docs[0], docs[1]["expect"]
        want = FLUX_FOR_ARGO[expect["health"]]
        got, why = flux_status(compiled, obj)
        check(f"{case} flux", got == want, f"healthCheckExprs give {got} ({why}), want {want}")
        k = kstatus(obj)
        if k != want:
            kstatus_gaps.append(f"{case}: {k} (want {want})")
    if kstatus_gaps:
        print(f"note: plain kstatus (wait: true without healthCheckExprs) disagrees on {len(kstatus_gaps)} object(s) "
              "unless the operator sets Reconciling/Stalled conditions (docs/gitops.md):")
        for g in kstatus_gaps:
            print("  ", g)

phases = {"Pending", "Loading", "Progressing", "Paused", "Serving", "RollingBack", "Degraded", "Failed"}
covered = set()
for path in files:
    with open(path) as f:
        covered.add(((next(yaml.load_all(f, Loader=StrTimestampLoader)).get("status") or {}).get("phase")))
check("testdata covers every phase", phases <= covered, f"missing {sorted(phases - covered)}")
check("testdata covers every health status", {"Healthy", "Progressing", "Degraded", "Suspended"} <= seen_health,
      f"seen {sorted(x for x in seen_health if x)}")

for f in failed:
    print("FAIL", f)
print(f"argocd-lua: {len(files)} recorded BertModels, {len(actions)} actions, lua {LUA}; flux CEL healthCheckExprs")
print(f"{passed} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
