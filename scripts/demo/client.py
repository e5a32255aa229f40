#!/usr/bin/env python3
"""The demo's client side, Python standard library only.

  client.py similarity URL MODEL        embed a few sentences over V2 REST, print cosines
  client.py load URL MODEL TALLY        send requests until SIGTERM; answers by version -> TALLY (JSON)
  client.py versions URL MODEL          TF Serving model status of the answering pod: versions, states, traffic
  client.py summary TALLY               the answers in TALLY, by version, and the failures
  client.py watch TALLY READY           format `kubectl get bm -w -o jsonpath=...` lines from stdin,
                                        with the answers the load generator saw in each state

URL is the model's REST address, e.g. http://127.96.0.3:8501.
"""

import json
import math
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request

PAIRS = [
    ("A man is playing a guitar.", "Someone is strumming a guitar."),
    ("A man is playing a guitar.", "The stock market fell sharply today."),
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("How do I reset my password?", "The cat is sleeping on the sofa."),
]

LOAD_TEXTS = [
    "a fine day for a walk",
    "the model answers in milliseconds",
    "Berth swaps versions without new pods",
    "how do I reset my password",
    "stocks fell sharply today",
]


def infer(url, model, texts, timeout=10.0):
    body = json.dumps(
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
    ).encode()
    req = urllib.request.Request(
        f"{url}/v2/models/{model}/infer", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def embeddings(answer):
    out = next(o for o in answer["outputs"] if o["name"] == "embedding")
    n, dim = out["shape"]
    data = out["data"]
    return [data[i * dim : (i + 1) * dim] for i in range(n)]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def similarity(url, model):
    texts = []
    for a, b in PAIRS:
        for t in (a, b):
            if t not in texts:
                texts.append(t)
    # The Service may take a moment to route to the new endpoints: retry briefly.
    deadline = time.monotonic() + 20
    while True:
        try:
            t0 = time.monotonic()
            answer = infer(url, model, texts)
            ms = (time.monotonic() - t0) * 1000
            break
        except (urllib.error.URLError, OSError) as e:
            if time.monotonic() > deadline:
                print(f"FAILED: no answer from {url}/v2/models/{model}/infer within 20s: {e}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    vecs = dict(zip(texts, embeddings(answer)))
    dim = len(next(iter(vecs.values())))
    print(
        f"  POST {url}/v2/models/{model}/infer  ({len(texts)} texts, answered by version "
        f"{answer.get('model_version')} in {ms:.0f} ms, {dim}-dim embeddings)"
    )
    results = []
    for a, b in PAIRS:
        c = cosine(vecs[a], vecs[b])
        results.append(c)
        print(f"    cos = {c:5.2f}   {a!r:32} vs {b!r}")
    ok = all(results[i] > results[i + 1] + 0.2 for i in range(0, len(results), 2))
    verdict = "paraphrases score far above unrelated sentences" if ok else "UNEXPECTED: paraphrases do not win"
    print(f"  -> {verdict}")
    # One line for the summary.
    with open(os.environ.get("DEMO_SIMILARITY_OUT", os.devnull), "w") as f:
        f.write(f"paraphrase {results[0]:.2f} vs unrelated {results[1]:.2f}")
    return 0 if ok else 1


def load(url, model, tally_path):
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    tally = {}
    errors = {}
    last_write = 0.0

    def write():
        tmp = tally_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"answers": tally, "errors": errors}, f)
        os.replace(tmp, tally_path)

    rng = random.Random(7)
    while not stop:
        try:
            answer = infer(url, model, [rng.choice(LOAD_TEXTS)], timeout=5)
            key = str(answer.get("model_version", "?"))
        except urllib.error.HTTPError as e:
            key = f"failed:{e.code}"
            errors[key] = e.read().decode(errors="replace")[:200]
        except (urllib.error.URLError, OSError) as e:
            key = "failed:connection"
            errors[key] = str(e)[:200]
        tally[key] = tally.get(key, 0) + 1
        now = time.monotonic()
        if now - last_write > 0.2:
            write()
            last_write = now
        time.sleep(0.03)
    write()
    return 0


def read_tally(path):
    try:
        with open(path) as f:
            return json.load(f)["answers"]
    except (OSError, ValueError, KeyError):
        return {}


def describe(delta):
    if not delta:
        return "no answers"
    ok = {k: v for k, v in delta.items() if not k.startswith("failed")}
    failed = sum(v for k, v in delta.items() if k.startswith("failed"))
    total_ok = sum(ok.values())
    parts = [
        f"v{k}: {v} ({100 * v / total_ok:.0f}%)" for k, v in sorted(ok.items(), key=lambda kv: kv[0])
    ]
    return f"answered {', '.join(parts) or 'none'}; failed: {failed}"


def report(before, after):
    """The load generator's answers between two tallies (nothing when there were none)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    if delta:
        print(f"{'':22}requests in this state: {describe(delta)}", flush=True)


def watch(tally_path, ready_path):
    """stdin: VERSION|PHASE|STEP|TRAFFIC VERSIONS|TRAFFIC WEIGHTS|REJECTED, one line per event."""
    t0 = time.monotonic()
    previous = None
    seen = read_tally(tally_path)
    for line in sys.stdin:
        fields = line.rstrip("\n").split("|")
        if len(fields) != 6 or fields == previous:
            continue
        version, phase, step, versions, weights, rejected = fields
        now_tally = read_tally(tally_path)
        if previous is not None:
            report(seen, now_tally)
        seen = now_tally
        previous = fields
        traffic = "  ".join(f"v{v} {w}%" for v, w in zip(versions.split(), weights.split()))
        step_txt = f"step {int(step) + 1}" if step.strip() else ""
        rej = f"rejected: {rejected}" if rejected.strip() else ""
        print(
            f"  {time.strftime('%H:%M:%S')} +{time.monotonic() - t0:5.1f}s  spec.version {version:3} "
            f"{phase:12} {step_txt:7} traffic {traffic:18} {rej}".rstrip(),
            flush=True,
        )
        if ready_path:
            open(ready_path, "w").close()
            ready_path = None
    if previous is not None:
        report(seen, read_tally(tally_path))
    return 0


def versions(url, model):
    """TF Serving's model status: every version the answering pod knows, its state and share."""
    with urllib.request.urlopen(f"{url}/v1/models/{model}", timeout=10) as resp:
        status = json.load(resp)
    for v in sorted(status["model_version_status"], key=lambda v: int(v["version"]) if v["version"].isdigit() else 0):
        err = v.get("status", {}).get("error_message") or ""
        print(f"version {v['version']:>2}  {v['state']:10} traffic {v.get('traffic', 0):5.1f}%  {err}".rstrip())
    return 0


def summary(tally_path):
    print(describe(read_tally(tally_path)))
    try:
        with open(tally_path) as f:
            for k, msg in json.load(f).get("errors", {}).items():
                print(f"  {k}: {msg}")
    except (OSError, ValueError):
        pass
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "versions":
        return versions(argv[1], argv[2])
    if len(argv) >= 2 and argv[0] == "summary":
        return summary(argv[1])
    if len(argv) >= 3 and argv[0] == "similarity":
        return similarity(argv[1], argv[2])
    if len(argv) >= 4 and argv[0] == "load":
        return load(argv[1], argv[2], argv[3])
    if len(argv) >= 2 and argv[0] == "watch":
        return watch(argv[1], argv[2] if len(argv) > 2 else None)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
