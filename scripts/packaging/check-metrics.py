#!/usr/bin/env python3
"""Checks that dashboards and alert rules only use metrics Berth exports.

usage: check-metrics.py ROOT FILE...

1. Every `berth_*` name in FILEs (after stripping a histogram's _bucket/_sum/_count)
   must be listed in deploy/metrics.txt, the contract of exported metric names.
2. Every listed name that the FILEs use must appear as a string in the Rust sources
   of the crate that owns it (berth_operator_* -> crates/berth-operator,
   berth_serve_* -> crates/berth-serve). A crate directory without src/ is skipped
   with a message (it is still being written), and so is a crate whose sources
   mention no metric of its prefix at all (metrics not written yet) unless
   BERTH_METRICS_STRICT=1; a crate that exports some of its metrics but not a
   name the dashboard or alerts use fails.
"""
import os
import re
import sys

SUFFIXES = ("_bucket", "_sum", "_count")
OWNERS = {"berth_operator_": "berth-operator", "berth_serve_": "berth-serve"}
TOKEN = re.compile(r"\bberth_[a-z0-9_]+\b")


def main():
    root, files = sys.argv[1], sys.argv[2:]
    with open(os.path.join(root, "deploy/metrics.txt")) as f:
        known = [l.strip() for l in f if l.strip()]
    for name in known:
        if not re.fullmatch(r"berth_[a-z0-9_]+", name):
            sys.exit(f"check-metrics: deploy/metrics.txt: {name!r} is not a metric name")
    known_set = set(known)

    failures = []
    used = {}
    for path in files:
        with open(path) as f:
            text = f.read()
        for tok in sorted(set(TOKEN.findall(text))):
            base = tok
            if tok not in known_set:
                for s in SUFFIXES:
                    if tok.endswith(s) and tok[: -len(s)] in known_set:
                        base = tok[: -len(s)]
            if base not in known_set:
                failures.append(f"{os.path.relpath(path, root)}: {tok} is not in deploy/metrics.txt")
            else:
                used.setdefault(base, set()).add(os.path.relpath(path, root))
    print(f"check-metrics: {len(used)} of {len(known)} listed metrics used by {len(files)} file(s)", flush=True)

    sources = {}
    skipped = []
    for name in sorted(used):
        crate = next((c for p, c in OWNERS.items() if name.startswith(p)), None)
        if crate is None:
            failures.append(f"{name}: no crate owns the prefix (known: {', '.join(OWNERS)})")
            continue
        src = os.path.join(root, "crates", crate, "src")
        if not os.path.isdir(src):
            skipped.append(f"{name} (crates/{crate}/src does not exist yet)")
            continue
        if crate not in sources:
            buf = []
            for d, _, fs in os.walk(src):
                for fn in fs:
                    if fn.endswith(".rs"):
                        with open(os.path.join(d, fn), errors="replace") as f:
                            buf.append(f.read())
            sources[crate] = "\n".join(buf)
        prefix = next(p for p, c in OWNERS.items() if c == crate)
        if prefix not in sources[crate] and os.environ.get("BERTH_METRICS_STRICT") != "1":
            skipped.append(f"{name} (crates/{crate}/src exports no {prefix}* metric yet; "
                           "BERTH_METRICS_STRICT=1 makes this a failure)")
            continue
        if not re.search(r"\b" + re.escape(name) + r"\b", sources[crate]):
            failures.append(f"{name}: used by {', '.join(sorted(used[name]))} but not exported by "
                            f"crates/{crate}/src (no string {name!r} in its .rs files)")
    for s in skipped:
        print(f"check-metrics: SKIP {s}")
    if failures:
        print("check-metrics: FAILED", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)
    print(f"check-metrics: ok ({len(used) - len(skipped)} checked against the code, {len(skipped)} skipped)")


if __name__ == "__main__":
    main()
