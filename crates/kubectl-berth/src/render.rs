//! Turning BertModels into text for a terminal. Pure, so every layout is unit-tested.

use std::fmt::Write;

use berth_api::{BertModel, conditions};
use jiff::Timestamp;

/// One line per model, like `kubectl get bm` but with the rollout step spelled out.
pub fn summary_table(models: &[BertModel]) -> String {
    let mut rows = vec![["NAME", "VERSION", "STABLE", "CANARY", "WEIGHT", "STEP", "PHASE", "READY"].map(String::from)];
    for model in models {
        let status = model.status.clone().unwrap_or_default();
        let steps = model.spec.rollout.steps.len();
        rows.push([
            model.metadata.name.clone().unwrap_or_default(),
            model.spec.version.clone(),
            status.stable_version.clone().unwrap_or_else(|| "-".into()),
            status.canary_version.clone().unwrap_or_else(|| "-".into()),
            status.canary_weight.map(format_weight).unwrap_or_else(|| "-".into()),
            status.current_step.map(|s| format!("{}/{steps}", s + 1)).unwrap_or_else(|| "-".into()),
            format!("{:?}", status.phase),
            condition_status(model, berth_api::labels::CONDITION_READY),
        ]);
    }
    align(&rows)
}

/// The full picture of one model's rollout.
pub fn detail(model: &BertModel, now: Timestamp) -> String {
    let mut out = String::new();
    let status = model.status.clone().unwrap_or_default();
    let name = model.metadata.name.clone().unwrap_or_default();
    let namespace = model.metadata.namespace.clone().unwrap_or_default();
    let generation = model.metadata.generation.unwrap_or_default();
    let _ = writeln!(out, "BertModel {namespace}/{name}  phase {:?}", status.phase);
    let _ = writeln!(out, "  spec.version   {}", model.spec.version);
    let _ = writeln!(out, "  stable         {}", status.stable_version.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "  canary         {}", status.canary_version.as_deref().unwrap_or("-"));
    if status.observed_generation.is_some_and(|g| g < generation) || status.observed_generation.is_none() {
        let _ = writeln!(
            out,
            "  (status is stale: observed generation {} < {generation})",
            status.observed_generation.map(|g| g.to_string()).unwrap_or_else(|| "none".into())
        );
    }
    if model.spec.rollout.paused {
        let _ = writeln!(out, "  rollout is PAUSED (kubectl berth resume {name})");
    }

    let _ = writeln!(out, "\nTraffic:");
    if status.traffic.is_empty() {
        let _ = writeln!(out, "  (none yet)");
    }
    for target in &status.traffic {
        let bar = "#".repeat((target.weight / 5.0).round() as usize);
        let _ = writeln!(out, "  {:<12} {:>7}  {bar}", target.version, format_weight(target.weight));
    }

    let steps = &model.spec.rollout.steps;
    let _ = writeln!(out, "\nSteps:");
    for (index, step) in steps.iter().enumerate() {
        let marker = match status.current_step {
            Some(current) if current as usize == index => "->",
            Some(current) if (current as usize) > index => "ok",
            _ => "  ",
        };
        let pause = step.pause.map(|p| format!("pause {p}")).unwrap_or_default();
        let mirror = step.mirror.map(|m| format!("mirror {} ", format_weight(m))).unwrap_or_default();
        let mut line = format!("  {marker} {}. weight {:>7} {mirror}{pause}", index + 1, format_weight(step.weight));
        if status.current_step.is_some_and(|c| c as usize == index)
            && let (Some(pause), Some(started)) = (step.pause, status.step_started_at.as_ref())
        {
            let elapsed = now.duration_since(started.0).as_secs_f64().max(0.0);
            let left = (pause.as_duration().as_secs_f64() - elapsed).max(0.0);
            let _ = write!(line, " ({left:.0}s left)");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }

    if let Some(analysis) = &status.analysis {
        let limits = &model.spec.rollout.analysis;
        let _ = writeln!(out, "\nAnalysis (every {}):", limits.interval);
        let _ = writeln!(out, "  requests       {} (judged from {})", analysis.requests, limits.min_requests);
        let rate = analysis.error_rate.map(|r| format!("{:.2}%", r * 100.0)).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "  error rate     {rate} (limit {:.2}%)", limits.max_error_rate * 100.0);
        let p99 = analysis.p99_latency_seconds.map(|s| format!("{:.1}ms", s * 1000.0)).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "  p99 latency    {p99} (limit {})", limits.max_p99_latency);
        if analysis.agreement.is_some() || limits.min_agreement.is_some() {
            let agreement = analysis.agreement.map(|a| format!("{a:.4}")).unwrap_or_else(|| "-".into());
            let limit = limits.min_agreement.map(|m| format!("min {m}")).unwrap_or_else(|| "no minimum".into());
            let _ = writeln!(
                out,
                "  agreement      {agreement} over {} mirrored inputs ({limit}, judged from {})",
                analysis.agreement_samples, limits.min_agreement_samples
            );
        }
        let _ = writeln!(out, "  failures       {}/{}", analysis.consecutive_failures, limits.failure_limit);
    }

    if !status.rejected_versions.is_empty() {
        let _ = writeln!(out, "\nRejected versions (not retried until spec.version changes):");
        for rejected in &status.rejected_versions {
            let _ = writeln!(
                out,
                "  {:<12} {:<12} {}  {}",
                rejected.version,
                rejected.reason.as_str(),
                rejected.time.0.strftime("%Y-%m-%dT%H:%M:%SZ"),
                rejected.message
            );
        }
    }

    if !status.conditions.is_empty() {
        let _ = writeln!(out, "\nConditions:");
        for condition in &status.conditions {
            let _ = writeln!(
                out,
                "  {:<12} {:<6} {:<20} {}",
                condition.type_, condition.status, condition.reason, condition.message
            );
        }
    }
    let _ = writeln!(out, "\nReplicas: {} ready of {}", status.ready_replicas, status.replicas);
    out
}

fn condition_status(model: &BertModel, type_: &str) -> String {
    model
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, type_))
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "-".into())
}

/// "5%", "33.33%": no trailing zeros.
pub fn format_weight(weight: f64) -> String {
    let text = format!("{weight:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        let _ = writeln!(out, "{}", line.join("   ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(status: serde_json::Value) -> BertModel {
        serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
            "metadata": {"name": "sentiment", "namespace": "ml", "generation": 4},
            "spec": {"version": "3", "source": {"uri": "s3://m/s"},
                     "rollout": {"steps": [{"weight": 5, "pause": "30s"}, {"weight": 25, "pause": "60s"}, {"weight": 100}]}},
            "status": status
        }))
        .expect("valid model")
    }

    fn progressing() -> BertModel {
        model(json!({
            "observedGeneration": 4, "phase": "Progressing", "stableVersion": "2", "canaryVersion": "3",
            "canaryWeight": 25.0, "currentStep": 1, "stepStartedAt": "2026-01-01T00:00:00Z",
            "traffic": [{"version": "2", "weight": 75.0}, {"version": "3", "weight": 25.0}],
            "analysis": {"consecutiveFailures": 1, "requests": 120, "errors": 3, "errorRate": 0.025, "p99LatencySeconds": 0.0815,
                         "agreement": 0.99731, "agreementSamples": 64},
            "rejectedVersions": [{"version": "4", "reason": "ErrorRate", "message": "7% > 1%", "time": "2025-12-31T00:00:00Z"}],
            "replicas": 3, "readyReplicas": 3,
            "conditions": [{"type": "Ready", "status": "True", "reason": "StableServing", "message": "",
                            "observedGeneration": 4, "lastTransitionTime": "2025-12-30T00:00:00Z"}]
        }))
    }

    #[test]
    fn summary_shows_step_and_weight() {
        let table = summary_table(&[progressing()]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("NAME"));
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cells, ["sentiment", "3", "2", "3", "25%", "2/3", "Progressing", "True"]);
    }

    #[test]
    fn detail_shows_traffic_steps_analysis_and_rejections() {
        let now: Timestamp = "2026-01-01T00:00:20Z".parse().expect("timestamp");
        let text = detail(&progressing(), now);
        assert!(text.contains("2                75%"), "{text}");
        assert!(text.contains("-> 2. weight     25% pause 1m (40s left)"), "{text}");
        assert!(text.contains("ok 1. weight      5% pause 30s"), "{text}");
        assert!(text.contains("error rate     2.50% (limit 1.00%)"), "{text}");
        assert!(text.contains("p99 latency    81.5ms (limit 500ms)"), "{text}");
        assert!(text.contains("failures       1/2"), "{text}");
        assert!(text.contains("agreement      0.9973 over 64 mirrored inputs (no minimum, judged from 20)"), "{text}");
        assert!(text.contains("4            ErrorRate"), "{text}");
        assert!(!text.contains("stale"), "{text}");
    }

    #[test]
    fn stale_status_is_called_out() {
        let mut m = progressing();
        m.metadata.generation = Some(5);
        assert!(detail(&m, Timestamp::UNIX_EPOCH).contains("status is stale: observed generation 4 < 5"));
        let fresh = model(json!(null));
        let text = detail(&fresh, Timestamp::UNIX_EPOCH);
        assert!(text.contains("observed generation none"), "{text}");
        assert!(text.contains("(none yet)"), "{text}");
        assert_eq!(summary_table(&[fresh]).lines().nth(1).map(|l| l.split_whitespace().count()), Some(8));
    }

    #[test]
    fn weights_print_without_trailing_zeros() {
        assert_eq!(format_weight(5.0), "5%");
        assert_eq!(format_weight(33.333), "33.33%");
        assert_eq!(format_weight(12.5), "12.5%");
    }
}
