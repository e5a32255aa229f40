#!/usr/bin/env python3
"""Structural checks of the Grafana dashboard: unique panel ids, every panel queries
the datasource variable, no panel overlaps another, and the panels the docs promise
exist (traffic split, error rate and p99 per version, rollbacks, load times)."""
import json
import sys

d = json.load(open(sys.argv[1]))
errors = []
panels = d["panels"]
ids = [p["id"] for p in panels]
if len(ids) != len(set(ids)):
    errors.append("duplicate panel ids")
titles = {p["title"] for p in panels}
for want in ("Traffic split per version", "Error rate per version", "p99 latency per version",
             "Rollbacks by reason", "Model load time per version", "Rollouts by outcome"):
    if want not in titles:
        errors.append(f"missing panel {want!r}")
if not any(v["name"] == "datasource" and v["type"] == "datasource" for v in d["templating"]["list"]):
    errors.append("no datasource variable")
cells = {}
for p in panels:
    if p["type"] == "row":
        continue
    if not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
        errors.append(f"panel {p['title']!r} has no query")
    if p.get("datasource", {}).get("uid") != "${datasource}":
        errors.append(f"panel {p['title']!r} does not use the datasource variable")
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        errors.append(f"panel {p['title']!r} is wider than the grid")
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                errors.append(f"panel {p['title']!r} overlaps {cells[(x, y)]!r}")
                break
            cells[(x, y)] = p["title"]
        else:
            continue
        break
for e in errors:
    print("FAIL check-dashboard:", e)
print(f"check-dashboard: {len(panels)} panels, {'ok' if not errors else str(len(errors)) + ' problem(s)'}")
sys.exit(1 if errors else 0)
