#!/usr/bin/env python3
"""Checks that dashboards and alert rules only use metrics Berth exports.

usage: check-metrics.py ROOT FILE...

Every `berth_*` name in FILEs (after stripping a histogram's _bucket/_sum/_count)
must be listed in deploy/metrics.txt, the contract of exported metric names.

That the list is what the code exports is not checked here by grepping sources:
the names are constants in crates/berth-api/src/metrics.rs, which berth-serve and
the operator register and read, and berth-api's test
`deploy_metrics_txt_lists_exactly_the_constants` fails when metrics.txt and the
constants differ.
"""
import os
import re
import sys

SUFFIXES = ("_bucket", "_sum", "_count")
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
    used = set()
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
                used.add(base)
    print(f"check-metrics: {len(used)} of {len(known)} listed metrics used by {len(files)} file(s)", flush=True)
    if failures:
        print("check-metrics: FAILED", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)
    print("check-metrics: ok")


if __name__ == "__main__":
    main()
