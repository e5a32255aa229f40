"""Shared by the third-party client runs (conformance.py with tritonclient,
tfserving_client.py with tensorflow-serving-api, s3_source.py with moto and boto3):
the real berth-serve binary on ephemeral ports, the reference outputs, a tiny check
runner and the main they share. Standard library and numpy only, so every
virtualenv can import it."""
import argparse
import json
import os
import subprocess
import tempfile
import time
import traceback

import numpy as np


class Process:
    """berth-serve with `--model_name NAME --model_base_path BASE` and `extra` flags;
    `rest` and `grpc` are its host:port addresses once it listens."""

    def __init__(self, binary, name, base, extra=(), env=None):
        self.name = name
        self.tmp = tempfile.TemporaryDirectory()
        addr_file = os.path.join(self.tmp.name, "addr.json")
        self.log = open(os.path.join(self.tmp.name, "server.log"), "w+")
        self.proc = subprocess.Popen(
            [binary, f"--model_name={name}", f"--model_base_path={base}", "--host=127.0.0.1",
             "--rest_api_port=0", "--port=0", f"--address_file={addr_file}", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log, env={**os.environ, **(env or {})})
        self.deadline = time.time() + 60
        while not os.path.exists(addr_file):
            if time.time() > self.deadline or self.proc.poll() is not None:
                raise RuntimeError("berth-serve did not start:\n" + self.log_text())
            time.sleep(0.05)
        addr = json.load(open(addr_file))
        self.rest, self.grpc = addr["rest"], addr["grpc"]

    def wait(self, ready, what="ready"):
        """Polls `ready()` (exceptions count as not yet) until true or the start deadline."""
        while True:
            try:
                if ready():
                    return
            except Exception:
                pass
            if time.time() > self.deadline:
                raise RuntimeError(f"berth-serve not {what}:\n" + self.log_text())
            time.sleep(0.05)

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}\n{self.log_text()}"


def reference(models, name):
    """ONNX Runtime's reference outputs for `name`, and its input texts."""
    with open(os.path.join(models, "reference", f"{name}.json")) as f:
        ref = json.load(f)
    return ref, [i["text"] for i in ref["items"]]


def close(a, b, what):
    diff = float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
    assert diff < 1e-4, f"{what}: max abs diff {diff}"


class Checks(list):
    """A list of checks that is also their decorator: `check = Checks()`, then `@check`."""

    def __call__(self, fn):
        self.append(fn)
        return fn


def run_checks(checks, ctx, title):
    """Runs every check, prints ok/FAILED per check and a summary; the exit status."""
    passed = failed = 0
    for fn in checks:
        try:
            fn(ctx)
            passed += 1
            print(f"ok     {fn.__name__}")
        except Exception:
            failed += 1
            print(f"FAILED {fn.__name__}")
            traceback.print_exc()
    print(f"{title}: {passed} passed, {failed} failed")
    return 1 if failed else 0


def run_main(title, checks, setup):
    """The main of every client run: `--binary` and `--models` from the command line;
    `setup(binary, models)` starts what the checks need and returns their context and
    what to stop afterwards, in order; then the checks run. The exit status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--models", required=True)
    args = ap.parse_args()
    ctx, running = setup(args.binary, args.models)
    ctx = {"binary": args.binary, "models": args.models, **ctx}
    try:
        return run_checks(checks, ctx, title)
    finally:
        for thing in running:
            thing.stop()
