#!/usr/bin/env python3
"""Writes deploy/grafana/berth-dashboard.json (run by `make dashboard`).

The JSON is the artefact users import; this script is how it is kept consistent
(panel ids, grid positions, one datasource variable). Edit here, then regenerate;
`make dashboard-drift` (part of `make test`) fails when the two disagree.
"""
import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'namespace=~"$namespace", model=~"$model"'
panels = []
_y = 0
_x = 0
_id = 0


def _next_id():
    global _id
    _id += 1
    return _id


def row(title):
    global _y, _x
    if _x:
        _y += 8
        _x = 0
    panels.append({"type": "row", "title": title, "id": _next_id(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": _y}, "panels": []})
    _y += 1


def panel(title, kind, targets, w=12, h=8, unit=None, desc="", stack=False, extra=None, min_=None, max_=None):
    global _y, _x
    if _x + w > 24:
        _y += h
        _x = 0
    defaults = {"custom": {}}
    if unit:
        defaults["unit"] = unit
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 30 if stack else 10,
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                              "showPoints": "never"}
    p = {
        "id": _next_id(), "type": kind, "title": title, "description": desc, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": _x, "y": _y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else {},
        "targets": [dict({"refId": chr(ord("A") + i), "datasource": DS, "expr": e, "legendFormat": l},
                         **({"instant": True, "range": False, "format": "table"} if kind in ("table",) else {}))
                    for i, (e, l) in enumerate(targets)],
    }
    if extra:
        p.update(extra)
    panels.append(p)
    _x += w
    if _x >= 24:
        _x = 0
        _y += h


row("Rollouts")
panel("Traffic split per version", "timeseries",
      [(f"max by (namespace, model, version) (berth_operator_traffic_weight{{{SEL}}})", "{{namespace}}/{{model}} v{{version}}")],
      unit="percent", stack=True, min_=0, max_=100,
      desc="Share of requests each version receives, as published by the operator in status.traffic. "
           "A rollout shows as the canary's band growing step by step; a rollback as a drop to 0.")
panel("Current weights", "bargauge",
      [(f"max by (namespace, model, version) (berth_operator_traffic_weight{{{SEL}}})", "{{namespace}}/{{model}} v{{version}}")],
      unit="percent", min_=0, max_=100,
      extra={"options": {"orientation": "horizontal", "displayMode": "gradient",
                         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}})
panel("Rollouts by outcome", "stat",
      [("sum by (outcome) (increase(berth_operator_rollouts_total[$__range]))", "{{outcome}}")],
      w=6, unit="short",
      desc="Rollouts that ended promoted or rolled_back in the selected time range (all models).",
      extra={"options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                         "colorMode": "value", "graphMode": "none", "textMode": "value_and_name"}})
panel("Rollbacks by reason", "timeseries",
      [("sum by (reason) (increase(berth_operator_rollbacks_total[$__rate_interval]))", "{{reason}}")],
      w=9, unit="short", stack=True,
      desc="LoadFailed, LoadTimeout, CrashLoop, ErrorRate, Latency. Each rollback also records the version "
           "in the model's status.rejectedVersions.",
      extra={"fieldConfig": {"defaults": {"custom": {"drawStyle": "bars", "fillOpacity": 80,
                                                     "stacking": {"mode": "normal", "group": "A"}}, "unit": "short"},
                             "overrides": []}})
panel("Rollout duration", "timeseries",
      [("histogram_quantile(0.5, sum by (le) (rate(berth_operator_rollout_duration_seconds_bucket[$__rate_interval])))", "p50"),
       ("histogram_quantile(0.9, sum by (le) (rate(berth_operator_rollout_duration_seconds_bucket[$__rate_interval])))", "p90")],
      w=9, unit="s", desc="From spec.version changing to promotion or rollback.")

row("Serving: requests per version")
panel("Requests per second by result", "timeseries",
      [(f"sum by (model, version, result) (rate(berth_serve_requests_total{{{SEL}}}[$__rate_interval]))",
        "{{model}} v{{version}} {{result}}")],
      unit="reqps", stack=True)
panel("Error rate per version", "timeseries",
      [(f'sum by (model, version) (rate(berth_serve_requests_total{{{SEL}, result!="ok"}}[$__rate_interval]))'
        f" / sum by (model, version) (rate(berth_serve_requests_total{{{SEL}}}[$__rate_interval]))",
        "{{model}} v{{version}}")],
      unit="percentunit", min_=0,
      desc="Failed requests (result other than ok) over all requests. The canary's analysis compares this "
           "with spec.rollout.analysis.maxErrorRate.")
panel("p99 latency per version", "timeseries",
      [(f"histogram_quantile(0.99, sum by (model, version, le) (rate(berth_serve_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
        "{{model}} v{{version}}")],
      unit="s", desc="Compared with spec.rollout.analysis.maxP99Latency during a rollout.")
panel("p50 latency per version", "timeseries",
      [(f"histogram_quantile(0.5, sum by (model, version, le) (rate(berth_serve_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
        "{{model}} v{{version}}")],
      unit="s")
panel("Mean batch size", "timeseries",
      [(f"sum by (model, version) (rate(berth_serve_batch_size_sum{{{SEL}}}[$__rate_interval]))"
        f" / sum by (model, version) (rate(berth_serve_batch_size_count{{{SEL}}}[$__rate_interval]))",
        "{{model}} v{{version}}")],
      w=8, unit="short", desc="Dynamic batching: requests per model execution.")
panel("Queue depth", "timeseries",
      [(f"sum by (model, version) (berth_serve_queue_depth{{{SEL}}})", "{{model}} v{{version}}")],
      w=8, unit="short", desc="Requests waiting for a batch, summed over pods. A full queue answers 429.")
panel("Pods per version state", "timeseries",
      [(f"sum by (model, version, state) (berth_serve_version_state{{{SEL}}} == 1)", "{{model}} v{{version}} {{state}}")],
      w=8, unit="short", stack=True,
      desc="How many serving pods report each version as START, LOADING, AVAILABLE, UNLOADING or END.")

row("Quality gate: answers compared with stable")
panel("Agreement with stable", "timeseries",
      [(f"sum by (model, version) (rate(berth_serve_agreement_sum{{{SEL}}}[$__rate_interval]))"
        f" / sum by (model, version) (rate(berth_serve_agreement_count{{{SEL}}}[$__rate_interval]))",
        "{{model}} v{{version}}")],
      w=8, unit="percentunit", max_=1,
      desc="Mean per-input agreement of the canary with stable on mirrored requests (cosine similarity of "
           "embeddings, same top label for classifiers). Judged against spec.rollout.analysis.minAgreement.")
panel("Mirrored copies by result", "timeseries",
      [(f"sum by (model, version, result) (rate(berth_serve_mirrored_total{{{SEL}}}[$__rate_interval]))",
        "{{model}} v{{version}} {{result}}")],
      w=8, unit="reqps", stack=True,
      desc="Copies of stable's requests sent to the canary: compared, incomparable (another output width), "
           "failed, or dropped for want of spare capacity.")
panel("Canary failures answered by stable", "timeseries",
      [(f"sum by (model, version) (rate(berth_serve_fallbacks_total{{{SEL}}}[$__rate_interval]))",
        "{{model}} v{{version}}")],
      w=8, unit="reqps",
      desc="Requests the canary failed server-side that stable answered instead: clients did not see them, "
           "the analysis did.")

row("Serving: model loading")
panel("Model load time per version", "timeseries",
      [(f"max by (model, version) (berth_serve_model_load_duration_seconds{{{SEL}}})", "{{model}} v{{version}} (slowest pod)")],
      unit="s", desc="Fetch, verify, load and warm-up of a version in a serving pod.")
panel("Model load time (latest)", "table",
      [(f"max by (namespace, model, version) (berth_serve_model_load_duration_seconds{{{SEL}}})", "")],
      unit="s",
      extra={"transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]})

row("Operator")
panel("Operator replicas up", "stat", [('sum(up{job="berth-operator"})', "up")], w=6, unit="short",
      desc="One replica leads (Lease berth-operator); the others stand by.",
      extra={"options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                         "colorMode": "background", "graphMode": "none"},
             "fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute", "steps": [
                 {"color": "red", "value": None}, {"color": "green", "value": 1}]}}, "overrides": []}})
panel("Reconciles by result", "timeseries",
      [("sum by (result) (rate(berth_operator_reconciles_total[$__rate_interval]))", "{{result}}")],
      w=9, unit="ops", stack=True)
panel("Reconcile errors by category", "timeseries",
      [("sum by (category) (rate(berth_operator_reconcile_errors_total[$__rate_interval]))", "{{category}}")],
      w=9, unit="ops", stack=True)


def var(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "definition": query, "refresh": 2,
            "includeAll": True, "multi": multi, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}


dashboard = {
    "__inputs": [],
    "title": "Berth",
    "uid": "berth-overview",
    "description": "Berth: traffic split, error rate and latency per version, rollouts, rollbacks and model load times.",
    "tags": ["berth", "bert", "inference"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "refresh": "30s",
    "time": {"from": "now-3h", "to": "now"},
    "timezone": "",
    "annotations": {"list": [{
        "name": "Rollbacks", "enable": True, "iconColor": "red", "datasource": DS,
        "expr": "sum by (reason) (changes(berth_operator_rollbacks_total[2m])) > 0",
        "titleFormat": "Rollback", "textFormat": "{{reason}}", "step": "60s"}]},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1},
        var("namespace", "Namespace", "label_values(berth_operator_traffic_weight, namespace)"),
        var("model", "Model", 'label_values(berth_operator_traffic_weight{namespace=~"$namespace"}, model)'),
    ]},
    "panels": panels,
}

out = sys.argv[1] if len(sys.argv) > 1 else "deploy/grafana/berth-dashboard.json"
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
