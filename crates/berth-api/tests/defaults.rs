//! A minimal BertModel gets the same defaults from the Rust types as from the CRD
//! schema, so what the API server stores and what the operator assumes never differ.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use berth_api::{BertModel, BertModelSpec, KubeDuration, Pooling, RolloutSpec, ServingSpec, Truncation};
use serde_json::{Value, json};

fn minimal() -> Value {
    json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "BertModel",
        "metadata": {"name": "m", "namespace": "default"},
        "spec": {"version": "1", "source": {"uri": "file:///models/m"}}
    })
}

/// Structural defaulting as the API server does it: for every object in the value, fill
/// each absent property that has a `default` in the schema, then recurse.
fn apply_schema_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, property_schema) in properties {
                    if !map.contains_key(name)
                        && let Some(default) = property_schema.get("default")
                    {
                        map.insert(name.clone(), default.clone());
                    }
                    if let Some(child) = map.get_mut(name) {
                        apply_schema_defaults(child, property_schema);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_schema_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn serde_defaults_fill_every_optional_field() {
    let model: BertModel = serde_json::from_value(minimal()).expect("minimal model decodes");
    let spec = &model.spec;
    assert_eq!(spec.replicas, 1);
    assert_eq!(spec.task, None);
    assert_eq!(spec.image, None);
    assert_eq!(spec.resources, None);
    assert_eq!(spec.source.secret_name, None);
    assert_eq!(spec.serving, ServingSpec::default());
    assert_eq!(spec.serving.max_batch_size, 8);
    assert_eq!(spec.serving.max_batch_delay, KubeDuration::from_millis(2));
    assert_eq!(spec.serving.max_sequence_length, 128);
    assert_eq!(spec.serving.threads, 1);
    assert_eq!(spec.serving.sessions, 1);
    assert_eq!(spec.serving.queue_capacity, 256);
    assert_eq!(spec.serving.truncation, Truncation::Truncate);
    assert_eq!(spec.serving.pooling, Pooling::Auto);
    assert_eq!(spec.serving.max_batch_tokens, 512);
    assert_eq!(spec.serving.normalize, None, "unset: the model decides");
    assert_eq!(spec.rollout, RolloutSpec::default());
    let weights: Vec<f64> = spec.rollout.steps.iter().map(|s| s.weight).collect();
    assert_eq!(weights, vec![10.0, 50.0, 100.0]);
    assert_eq!(spec.rollout.load_timeout, KubeDuration::from_secs(300));
    assert_eq!(spec.rollout.max_loading_pods, 1);
    assert!(!spec.rollout.paused);
    let analysis = &spec.rollout.analysis;
    assert_eq!(analysis.interval, KubeDuration::from_secs(10));
    assert_eq!(analysis.max_error_rate, 0.01);
    assert_eq!(analysis.max_p99_latency, KubeDuration::from_millis(500));
    assert_eq!(analysis.min_requests, 20);
    assert_eq!(analysis.failure_limit, 2);
    assert!(model.status.is_none());
    berth_api::validate_spec(spec).expect("defaults are valid");
}

#[test]
fn schema_defaults_equal_serde_defaults() {
    let schema = berth_api::crd::openapi_schema();
    let mut defaulted = minimal();
    apply_schema_defaults(&mut defaulted, &schema);
    let from_schema: BertModelSpec = serde_json::from_value(defaulted["spec"].clone()).expect("decodes");
    let from_serde: BertModelSpec = serde_json::from_value(minimal()["spec"].clone()).expect("decodes");
    assert_eq!(from_schema, from_serde);
    // And the schema really filled them in (not serde behind its back).
    assert_eq!(defaulted["spec"]["serving"]["maxBatchSize"], 8);
    assert_eq!(defaulted["spec"]["rollout"]["analysis"]["failureLimit"], 2);
    assert_eq!(defaulted["spec"]["replicas"], 1);
}

#[test]
fn status_round_trips_with_every_field() {
    let status = json!({
        "observedGeneration": 7,
        "phase": "Progressing",
        "stableVersion": "2",
        "canaryVersion": "3",
        "canaryWeight": 5.0,
        "traffic": [{"version": "2", "weight": 95.0}, {"version": "3", "weight": 5.0}],
        "currentStep": 0,
        "mirror": 100.0,
        "stepStartedAt": "2026-11-25T10:00:00Z",
        "analysis": {"consecutiveFailures": 1, "requests": 120, "errors": 3, "errorRate": 0.025,
                      "p99LatencySeconds": 0.08, "agreement": 0.9985, "agreementSamples": 40,
                      "lastTime": "2026-11-25T10:00:05Z",
                      "baseline": {"requests": 500, "errors": 3, "latencyBuckets": [{"le": 0.1, "count": 480}],
                                   "latencyCount": 500, "agreementSum": 39.9, "agreementSamples": 40}},
        "rejectedVersions": [{"version": "4", "reason": "ErrorRate", "message": "5% > 1%", "time": "2026-11-24T09:00:00Z",
                              "blocking": false}],
        "replicas": 3,
        "readyReplicas": 3,
        "selector": "app.kubernetes.io/name=berth-serve",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Serving", "message": "",
                         "observedGeneration": 7, "lastTransitionTime": "2026-11-25T09:00:00Z"}]
    });
    let decoded: berth_api::BertModelStatus = serde_json::from_value(status.clone()).expect("decodes");
    assert_eq!(serde_json::to_value(&decoded).expect("encodes"), status);
}
