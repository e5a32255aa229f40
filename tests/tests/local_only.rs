//! End to end on berth-local only: scenarios a real cluster's pods cannot take part in.
//! `make operator-e2e` runs them; `make e2e-suite-cluster` does not run this binary
//! (and each test here fails with its reason if run there anyway).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_api::RejectionReason;
use berth_api::conditions::is_true;
use berth_e2e::s3::S3Store;
use berth_e2e::scenario::{rejected, rollout};
use berth_e2e::{Ground, Harness, Load, models_dir};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// The design's own example: versions in an S3 bucket, credentials in a Secret. The
/// pods get the bucket's address and keys only through `source.secretName`
/// (berth-local passes no host environment), download each version while it loads,
/// and the rollout runs as from a volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built, the tiny models and the venv (make operator-e2e)"]
async fn versions_from_an_s3_bucket_with_credentials_from_a_secret() {
    Ground::from_env().require_local(
        "versions_from_an_s3_bucket_with_credentials_from_a_secret",
        "moto listens on the host's 127.0.0.1, which pods cannot reach",
    );
    let h = Harness::start().await;
    let tiny = models_dir().join("tiny");
    let bind = h.host_address().expect("the S3 test runs on berth-local only");
    let store = S3Store::start(bind, &h.name, &[("1", &tiny.join("1")), ("2", &tiny.join("2"))]);
    let data: BTreeMap<String, ByteString> = [
        ("AWS_ACCESS_KEY_ID", "e2e"),
        ("AWS_SECRET_ACCESS_KEY", "e2e-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", store.endpoint.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let mut secret = Secret { data: Some(data), ..Secret::default() };
    secret.metadata.name = Some("models-s3".into());
    Api::<Secret>::namespaced(h.client.clone(), &h.namespace).create(&PostParams::default(), &secret).await.unwrap();

    let analysis = json!({"interval": "1s", "minRequests": 5, "maxP99Latency": "2s"});
    let mut manifest = h.manifest("1", 2, rollout(analysis));
    manifest.spec.source.uri = format!("s3://models/{}", h.name);
    manifest.spec.source.secret_name = Some("models-s3".into());
    h.create_ready(&manifest).await;

    let load = Load::start(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = Instant::now();
    h.merge(json!({"spec": {"version": "2"}})).await;
    let status = h
        .wait("promotion of 2 from the bucket", Duration::from_secs(120), |s| {
            s.stable_version.as_deref() == Some("2") && s.canary_version.is_none()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(load.failures(), 0, "{:?}", load.answers());
    let answers = load.stop().await;
    eprintln!("s3: rollout 1 -> 2 promoted in {:.1}s; answers {answers:?}", t.elapsed().as_secs_f64());
    assert!(is_true(&status.conditions, "Ready"), "{status:#?}");
    assert!(answers.get("2").copied().unwrap_or(0) > 0, "{answers:?}");

    // A version the bucket does not hold is rejected with the store's answer.
    h.merge(json!({"spec": {"version": "3"}})).await;
    let status = h.wait("rejection of 3", Duration::from_secs(60), |s| rejected(s, "3").is_some()).await;
    let (reason, message) = rejected(&status, "3").unwrap();
    eprintln!("s3: missing version 3 -> {reason:?}: {message}");
    assert_eq!(reason, RejectionReason::LoadFailed);
    assert!(message.contains("no objects under s3://models/tiny/3/"), "{message}");
    drop(store);
    h.shutdown().await;
}
