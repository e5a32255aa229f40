//! Parsing what a serving pod answers: TF Serving's model status JSON and the
//! Prometheus text exposition of its per-version counters. Pure, so the formats are
//! tested here and the HTTP edge only fetches bytes.

use std::collections::BTreeMap;

use berth_api::metrics::{
    AGREEMENT, LABEL_LE, LABEL_MODEL, LABEL_RESULT, LABEL_VERSION, OUTPUT_WIDTH, REQUEST_DURATION_SECONDS,
    REQUESTS_TOTAL, RESULT_OK, bucket_series, count_series, sum_series,
};
use berth_api::{CounterSnapshot, LatencyBucket, VersionReport, VersionState, golden};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
#[error("model status is not TF Serving's JSON: {0}")]
pub struct ParseError(#[from] serde_json::Error);

#[derive(Deserialize)]
struct ModelStatus {
    #[serde(default)]
    model_version_status: Vec<VersionStatusJson>,
}

#[derive(Deserialize)]
struct VersionStatusJson {
    version: serde_json::Value,
    state: String,
    #[serde(default)]
    status: Option<ErrorJson>,
}

#[derive(Deserialize)]
struct ErrorJson {
    #[serde(default)]
    error_code: serde_json::Value,
    #[serde(default)]
    error_message: String,
}

fn state_of(text: &str) -> VersionState {
    match text {
        "LOADING" => VersionState::Loading,
        "AVAILABLE" => VersionState::Available,
        "UNLOADING" => VersionState::Unloading,
        "END" => VersionState::End,
        _ => VersionState::Start,
    }
}

/// `GET /v1/models/{name}` -> one report per version.
pub fn model_status(body: &[u8]) -> Result<Vec<VersionReport>, ParseError> {
    let status: ModelStatus = serde_json::from_slice(body)?;
    Ok(status
        .model_version_status
        .into_iter()
        .map(|v| {
            let version = match v.version {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            let failed_golden_set = v.status.as_ref().is_some_and(|s| s.error_code == golden::FAILED_STATUS_CODE);
            let error = v.status.and_then(|s| {
                let ok = matches!(&s.error_code, serde_json::Value::Null) || s.error_code == "OK" || s.error_code == 0;
                (!ok || !s.error_message.is_empty()).then_some(s.error_message).filter(|m| !m.is_empty())
            });
            VersionReport { version, state: state_of(&v.state), error, failed_golden_set }
        })
        .collect())
}

/// Per-version counters of `model` from a Prometheus text exposition. Unknown lines
/// are skipped: the server may export more than the operator reads.
pub fn counters(text: &str, model: &str) -> BTreeMap<String, CounterSnapshot> {
    let mut out: BTreeMap<String, CounterSnapshot> = BTreeMap::new();
    let (count, bucket) = (count_series(REQUEST_DURATION_SECONDS), bucket_series(REQUEST_DURATION_SECONDS));
    let (agreement_sum, agreement_count) = (sum_series(AGREEMENT), count_series(AGREEMENT));
    for (name, labels, raw) in samples_of(text, model) {
        let Some(version) = labels.get(LABEL_VERSION) else { continue };
        let value = if raw.is_finite() && raw > 0.0 { raw.round() as u64 } else { 0 };
        let entry = out.entry(version.clone()).or_default();
        match name {
            n if n == agreement_sum => entry.agreement_sum += if raw.is_finite() { raw } else { 0.0 },
            n if n == agreement_count => entry.agreement_samples += value,
            REQUESTS_TOTAL => {
                entry.requests += value;
                if labels.get(LABEL_RESULT).map(String::as_str) != Some(RESULT_OK) {
                    entry.errors += value;
                }
            }
            n if n == count => entry.latency_count += value,
            n if n == bucket => {
                let Some(le) = labels.get(LABEL_LE).and_then(|le| le.parse::<f64>().ok()) else { continue };
                if le.is_finite() {
                    entry.latency_buckets.push(LatencyBucket { le, count: value });
                }
            }
            _ => {}
        }
    }
    for snapshot in out.values_mut() {
        snapshot.latency_buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    }
    out
}

/// The output width of each version of `model` (`berth_serve_output_width`).
pub fn output_widths(text: &str, model: &str) -> BTreeMap<String, u64> {
    samples_of(text, model)
        .filter(|(name, _, value)| *name == OUTPUT_WIDTH && value.is_finite() && *value > 0.0)
        .filter_map(|(_, labels, value)| Some((labels.get(LABEL_VERSION)?.clone(), value.round() as u64)))
        .collect()
}

/// The sample lines of `model`'s series.
fn samples_of<'a>(text: &'a str, model: &'a str) -> impl Iterator<Item = (&'a str, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(sample)
        .filter(move |(_, labels, _)| labels.get(LABEL_MODEL).map(String::as_str) == Some(model))
}

/// One sample line: `name{k="v",...} value [timestamp]`.
fn sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    let (name, rest) = match line.find('{') {
        Some(open) => (&line[..open], &line[open..]),
        None => {
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            return Some((name, BTreeMap::new(), parts.next()?.parse().ok()?));
        }
    };
    let close = rest.rfind('}')?;
    let labels = parse_labels(&rest[1..close]);
    let value = rest[close + 1..].split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let Some(body) = after.strip_prefix('"') else { break };
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        rest = &body[end.min(body.len())..];
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tf_serving_status() {
        let body = br#"{"model_version_status":[
            {"version":"2","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}},
            {"version":"3","state":"END","status":{"error_code":"NOT_FOUND","error_message":"no model.onnx"}},
            {"version":4,"state":"LOADING","status":{"error_code":"OK","error_message":""}},
            {"version":"5","state":"END","status":{"error_code":"FAILED_PRECONDITION","error_message":"accuracy 0.1"}}]}"#;
        let reports = model_status(body).unwrap_or_default();
        assert_eq!(reports.len(), 4);
        assert!(reports[3].failed_golden_set && !reports[1].failed_golden_set);
        assert_eq!(reports[3].error.as_deref(), Some("accuracy 0.1"));
        assert_eq!(reports[0].state, VersionState::Available);
        assert_eq!(reports[0].error, None);
        assert_eq!(reports[1].error.as_deref(), Some("no model.onnx"));
        assert_eq!(reports[2].version, "4");
        assert!(model_status(b"not json").is_err());
    }

    #[test]
    fn parses_per_version_counters() {
        let text = r#"# HELP berth_serve_requests_total Requests.
# TYPE berth_serve_requests_total counter
berth_serve_requests_total{model="m",version="2",result="ok"} 90
berth_serve_requests_total{model="m",version="2",result="error"} 10
berth_serve_requests_total{model="other",version="2",result="ok"} 1000
berth_serve_request_duration_seconds_bucket{model="m",version="2",le="0.1"} 80
berth_serve_request_duration_seconds_bucket{model="m",version="2",le="0.05"} 40
berth_serve_request_duration_seconds_bucket{model="m",version="2",le="+Inf"} 100
berth_serve_request_duration_seconds_count{model="m",version="2"} 100
berth_serve_request_duration_seconds_sum{model="m",version="2"} 7.5
"#;
        let c = counters(text, "m");
        let v2 = c.get("2").cloned().unwrap_or_default();
        assert_eq!((v2.requests, v2.errors, v2.latency_count), (100, 10, 100));
        assert_eq!(
            v2.latency_buckets,
            vec![LatencyBucket { le: 0.05, count: 40 }, LatencyBucket { le: 0.1, count: 80 }]
        );
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn parses_agreement_and_output_widths() {
        let text = r#"berth_serve_agreement_bucket{model="m",version="3",le="0.99"} 2
berth_serve_agreement_sum{model="m",version="3"} 47.25
berth_serve_agreement_count{model="m",version="3"} 50
berth_serve_agreement_sum{model="other",version="3"} 1000
berth_serve_output_width{model="m",version="2"} 384
berth_serve_output_width{model="m",version="3"} 32
berth_serve_output_width{model="other",version="4"} 8
"#;
        let c = counters(text, "m");
        let v3 = c.get("3").cloned().unwrap_or_default();
        assert_eq!((v3.agreement_sum, v3.agreement_samples), (47.25, 50));
        assert_eq!(v3.latency_buckets, Vec::new(), "the agreement histogram is not the latency one");
        let widths = output_widths(text, "m");
        assert_eq!(widths.into_iter().collect::<Vec<_>>(), vec![("2".to_string(), 384), ("3".to_string(), 32)]);
    }

    #[test]
    fn labels_with_escapes_and_commas() {
        let labels = parse_labels(r#"a="x,y",b="q\"z""#);
        assert_eq!(labels.get("a").map(String::as_str), Some("x,y"));
        assert_eq!(labels.get("b").map(String::as_str), Some("q\"z"));
    }
}
