#!/usr/bin/env python3
"""Validates Kubernetes manifests: built-in kinds with kubernetes-validate (strict:
unknown fields are errors), BertModels against the CRD's openAPIV3Schema (also
strict) and its x-kubernetes-validations CEL rules (in a real CEL runtime, with
the Kubernetes list function isSorted; rules using oldSelf or other Kubernetes
extensions are skipped with a message), and skips other custom kinds with a message.

usage: validate-manifests.py [--kube-version 1.35.0] [--crd crds/bertmodels.berth.dev.yaml]
                             [--objects-only-first] FILE|- ...

A file may hold many YAML documents; `-` reads stdin (helm template | ...).
With --objects-only-first, only the first document of each file is a manifest
(the Argo CD testdata keep their expectations in the second).
Exit status 1 when anything fails. Runs in the packaging venv (PyYAML,
jsonschema and kubernetes-validate).
"""
import argparse
import copy
import os
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError


class Loader(yaml.SafeLoader):
    """Keep timestamps as strings, as the API server and kubectl send them."""


Loader.yaml_implicit_resolvers = {
    k: [(t, rx) for t, rx in v if t != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def strict_schema(s):
    """A structural schema prunes unknown fields; reject them instead, as kubectl --validate=strict does."""
    s = copy.deepcopy(s)

    def walk(n):
        if not isinstance(n, dict):
            return
        if n.get("type") == "object" and "properties" in n and "additionalProperties" not in n \
                and not n.get("x-kubernetes-preserve-unknown-fields"):
            n["additionalProperties"] = False
        for k, v in list(n.items()):
            if k in ("properties", "patternProperties"):
                for sub in v.values():
                    walk(sub)
            elif isinstance(v, dict):
                walk(v)
            elif isinstance(v, list):
                for sub in v:
                    walk(sub)
    walk(s)
    # metadata is validated by the API server itself, not by the CRD schema.
    s.setdefault("properties", {})["metadata"] = {"type": "object"}
    # apiVersion and kind are always allowed.
    s["properties"].setdefault("apiVersion", {"type": "string"})
    s["properties"].setdefault("kind", {"type": "string"})
    return s


try:
    from cel_expr_python import cel
except ImportError:  # the CEL rules are then skipped with a message
    cel = None

_cel_env = None
_cel_cache = {}


def _is_sorted(values):
    values = list(values)
    return all(values[i] <= values[i + 1] for i in range(len(values) - 1))


def cel_rule(rule):
    """Compiled rule, or a string saying why it cannot be evaluated here."""
    global _cel_env
    if cel is None:
        return "cel-expr-python is not installed"
    if "oldSelf" in rule:
        return "transition rule (oldSelf)"
    if _cel_env is None:
        sorted_fn = cel.FunctionDecl("isSorted", [cel.Overload(
            "list_is_sorted", return_type=cel.Type.BOOL, parameters=[cel.Type.List(cel.Type.DYN)],
            is_member=True, impl=_is_sorted)])
        _cel_env = cel.NewEnv(variables={"self": cel.Type.DYN}, functions=[sorted_fn])
    if rule not in _cel_cache:
        try:
            _cel_cache[rule] = _cel_env.compile(rule)
        except Exception as e:  # a Kubernetes CEL library function this runtime lacks
            _cel_cache[rule] = f"cannot compile here: {str(e).splitlines()[0]}"
    return _cel_cache[rule]


def cel_errors(schema, value, path, skipped):
    """Evaluates x-kubernetes-validations wherever the object has a value."""
    out = []
    if not isinstance(schema, dict) or value is None:
        return out
    for v in schema.get("x-kubernetes-validations", []):
        compiled = cel_rule(v["rule"])
        if isinstance(compiled, str):
            skipped.add(f"{v['rule']!r}: {compiled}")
            continue
        r = compiled.eval(data={"self": value})
        if r.type() == cel.Type.ERROR or r.plain_value() is not True:
            msg = v.get("message") or f"failed rule: {v['rule']}"
            out.append((path or "<root>", msg if r.type() != cel.Type.ERROR else f"{msg} (error: {r.plain_value()})"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k, sub in value.items():
            sch = props.get(k) if k in props else (schema.get("additionalProperties")
                                                    if isinstance(schema.get("additionalProperties"), dict) else None)
            if sch is not None:
                out += cel_errors(sch, sub, f"{path}.{k}" if path else k, skipped)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, sub in enumerate(value):
            out += cel_errors(schema["items"], sub, f"{path}.{i}", skipped)
    return out


def load_crd_schemas(path):
    schemas = {}
    with open(path) as f:
        for doc in yaml.load_all(f, Loader=Loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for v in doc["spec"]["versions"]:
                schema = v.get("schema", {}).get("openAPIV3Schema")
                if schema:
                    schemas[(f"{group}/{v['name']}", kind)] = (strict_schema(schema), schema)
    return schemas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kube-version", default="1.35.0")
    ap.add_argument("--crd", action="append", default=[])
    ap.add_argument("--objects-only-first", action="store_true")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    crd_schemas = {}
    missing_crds = []
    for c in a.crd:
        if os.path.exists(c):
            crd_schemas.update(load_crd_schemas(c))
        else:
            missing_crds.append(c)

    ok = failed = skipped = 0
    crd_skips = []
    cel_skipped = set()
    for name in a.files:
        text = sys.stdin.read() if name == "-" else open(name).read()
        label = "<stdin>" if name == "-" else (os.path.relpath(name) if not os.path.relpath(name).startswith("..") else os.path.basename(name))
        docs = [d for d in yaml.load_all(text, Loader=Loader)]
        if a.objects_only_first:
            docs = docs[:1]
        for doc in docs:
            if not doc:
                continue
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                failed += 1
                print(f"FAIL {label}: a document without apiVersion and kind: {str(doc)[:80]}")
                continue
            av, kind = doc["apiVersion"], doc["kind"]
            ident = f"{kind} {doc.get('metadata', {}).get('namespace', '') + '/' if doc.get('metadata', {}).get('namespace') else ''}{doc.get('metadata', {}).get('name', '?')}"
            if (av, kind) in crd_schemas:
                strict, original = crd_schemas[(av, kind)]
                errs = sorted(jsonschema.Draft7Validator(strict).iter_errors(doc),
                              key=lambda e: list(e.absolute_path))
                rule_errs = cel_errors(original, doc, "", cel_skipped) if not errs else []
                if errs or rule_errs:
                    failed += 1
                    for e in errs:
                        path = ".".join(str(p) for p in e.absolute_path) or "<root>"
                        print(f"FAIL {label}: {ident}: {path}: {e.message}")
                    for path, msg in rule_errs:
                        print(f"FAIL {label}: {ident}: {path}: {msg}")
                else:
                    ok += 1
                continue
            if av.split("/")[0].endswith("berth.dev"):
                skipped += 1
                crd_skips.append(f"{label}: {ident}")
                continue
            try:
                kubernetes_validate.validate(doc, a.kube_version, strict=True)
                ok += 1
            except ValidationError as e:
                failed += 1
                path = ".".join(str(p) for p in e.path) or "<root>"
                print(f"FAIL {label}: {ident}: {path}: {e.message}")
            except SchemaNotFoundError:
                skipped += 1
                print(f"SKIP {label}: {ident}: {av} is a custom kind without a schema here (not validated)")
    for r in sorted(cel_skipped):
        print(f"SKIP CEL rule {r}")
    if crd_skips:
        why = f"{', '.join(os.path.relpath(c) for c in missing_crds)} does not exist yet" if missing_crds else "no --crd given"
        print(f"SKIP {len(crd_skips)} berth.dev object(s) not validated against the CRD ({why}): "
              + ", ".join(sorted(set(x.split(':')[0] for x in crd_skips))))
    print(f"validate-manifests: {ok} valid, {failed} invalid, {skipped} skipped "
          f"(Kubernetes {a.kube_version}, strict)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
