//! The quality gate under load: canaries judged on what they answer, on mirrored
//! copies of the requests stable answers, before a client reaches them.

use std::time::Duration;

use berth_api::RejectionReason;
use berth_e2e::scenario::expect_rollback;
use berth_e2e::{Harness, Load, models_dir};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built, the tiny models, MiniLM and the fault models (make operator-e2e)"]
async fn canaries_are_judged_on_their_answers_before_clients_reach_them() {
    let h = Harness::start().await;
    let tiny = models_dir().join("tiny/2");
    h.repo.link("1", &tiny);
    // 2: the same weights as 1. 3: 1's weights plus noise (mean cosine ~0.95: fast,
    // no errors, drifted). 4: tiny's other version, unrelated weights of the same
    // width (another embedding space). 5: MiniLM, 384 dimensions where tiny has 32.
    h.repo.link("2", &tiny);
    h.repo.link("3", &models_dir().join("faults/perturbed"));
    h.repo.link("4", &models_dir().join("tiny/1"));
    h.repo.link("5", &models_dir().join("minilm/1"));

    let analysis = json!({"interval": "1s", "minRequests": 5, "maxErrorRate": 0.05, "maxP99Latency": "2s",
                          "failureLimit": 2, "minAgreement": 0.99, "minAgreementSamples": 10});
    let shadow_first = json!({
        "steps": [{"weight": 0, "mirror": 100, "pause": "5s"}, {"weight": 50, "mirror": 50, "pause": "2s"},
                  {"weight": 100}],
        "analysis": analysis, "loadTimeout": "120s", "maxLoadingPods": 2
    });
    h.create_ready(&h.manifest("1", 2, shadow_first)).await;
    let load = Load::start(&h, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2 agrees with stable: judged in the shadow step, then live, then promoted.
    h.merge(json!({"spec": {"version": "2"}})).await;
    let mut agreements = Vec::new();
    h.watch(
        "promotion of 2",
        Duration::from_secs(120),
        |s| {
            if let Some(a) = s.analysis.as_ref().and_then(|a| a.agreement.map(|v| (v, a.agreement_samples))) {
                agreements.push(a);
            }
        },
        |s| s.stable_version.as_deref() == Some("2") && s.canary_version.is_none(),
    )
    .await;
    eprintln!("  2 (same weights): agreement per analysis (mean, samples): {agreements:?}");
    assert!(!agreements.is_empty(), "no analysis reported an agreement");
    assert!(agreements.iter().all(|(a, _)| *a > 0.9999), "{agreements:?}");
    assert_eq!(load.failures(), 0, "{:?}", load.answers());

    // 3 drifted: rolled back as QualityGate in the shadow step; no client reached it.
    let r = expect_rollback(&h, &load, "3", "2", json!({"spec": {"version": "3"}}), RejectionReason::QualityGate).await;
    let judged = r.status.analysis.as_ref().map(|a| (a.agreement, a.agreement_samples));
    eprintln!("  3 (perturbed): last analysis (agreement, samples): {judged:?}");
    assert!(r.reaction.is_none(), "3 took live traffic");
    assert!(judged.is_some_and(|(a, _)| a.is_some_and(|a| (0.5..0.99).contains(&a))), "{judged:?}");

    // 4 answers from another space of the same width: EmbeddingSpaceChanged, in the
    // shadow step.
    let r =
        expect_rollback(&h, &load, "4", "2", json!({"spec": {"version": "4"}}), RejectionReason::EmbeddingSpaceChanged)
            .await;
    eprintln!("  4 (unrelated weights): last agreement {:?}", r.status.analysis.as_ref().and_then(|a| a.agreement));
    assert!(r.reaction.is_none(), "4 took live traffic");

    // 5 has another dimension: rejected once loaded, before any traffic or copy.
    let r =
        expect_rollback(&h, &load, "5", "2", json!({"spec": {"version": "5"}}), RejectionReason::EmbeddingSpaceChanged)
            .await;
    assert!(r.reaction.is_none(), "5 took live traffic");
    let message = &r.status.rejected_versions.iter().find(|v| v.version == "5").unwrap().message;
    assert!(message.contains("384 dimensions where 2 answers 32"), "{message}");
    assert_eq!(load.failures(), 0, "{:?}", load.answers());
    let answers = load.answers();
    assert!(!answers.contains_key("3") && !answers.contains_key("4") && !answers.contains_key("5"), "{answers:?}");

    // Allowed: 5 rolls out (its copies cannot be compared with 32 dimensions, so only
    // errors and latency judge it).
    // (6 is MiniLM too: a rejected version is retried only once spec.version moved.)
    h.repo.link("6", &models_dir().join("minilm/1"));
    h.merge(json!({"spec": {"version": "6", "rollout": {"allowEmbeddingSpaceChange": true}}})).await;
    h.wait("promotion of 6", Duration::from_secs(180), |s| s.stable_version.as_deref() == Some("6")).await;
    let total = load.stop().await;
    eprintln!("  answers in total: {total:?}");
    assert!(total.get("6").copied().unwrap_or(0) > 0, "{total:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built, MiniLM and its int8 build (make operator-e2e)"]
async fn an_int8_build_of_minilm_passes_the_gate_of_its_fp32_source() {
    let h = Harness::start_named("minilm", "").await;
    h.repo.link("1", &models_dir().join("minilm/1"));
    // 2: scripts/quantize_int8.py's build of 1 (int8 weights per channel).
    h.repo.link("2", &models_dir().join("minilm-int8/1"));
    let analysis = json!({"interval": "1s", "minRequests": 5, "maxErrorRate": 0.05, "maxP99Latency": "2s",
                          "failureLimit": 2, "minAgreement": 0.98, "minAgreementSamples": 10});
    let steps = json!({"steps": [{"weight": 0, "mirror": 100, "pause": "6s"}, {"weight": 100}],
                       "analysis": analysis, "loadTimeout": "120s", "maxLoadingPods": 2});
    h.create_ready(&h.manifest("1", 2, steps)).await;
    let load = Load::start(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.merge(json!({"spec": {"version": "2"}})).await;
    let mut agreements = Vec::new();
    h.watch(
        "promotion of the int8 build",
        Duration::from_secs(180),
        |s| {
            if let Some(a) = s.analysis.as_ref().and_then(|a| a.agreement.map(|v| (v, a.agreement_samples))) {
                agreements.push(a);
            }
        },
        |s| s.stable_version.as_deref() == Some("2") && s.canary_version.is_none(),
    )
    .await;
    agreements.dedup();
    eprintln!("  int8 MiniLM vs fp32 on mirrored requests, per analysis (mean, samples): {agreements:?}");
    assert!(!agreements.is_empty(), "no analysis reported an agreement");
    assert!(agreements.iter().all(|(a, _)| (0.98..=1.0).contains(a)), "{agreements:?}");
    // The pods take the promotion within a watch event; let clients reach 2.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let total = load.stop().await;
    eprintln!("  answers in total: {total:?}");
    assert_eq!(total.get("failed").copied().unwrap_or(0), 0, "{total:?}");
    assert!(total.get("2").copied().unwrap_or(0) > 0, "{total:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs berth-serve built, the tiny classifier and the fault models (make operator-e2e)"]
async fn a_classifier_whose_labels_moved_fails_its_golden_set_and_never_answers() {
    let h = Harness::start_named("sentiment", "--warmup=false").await;
    let classifier = models_dir().join("tiny-classifier/1");
    h.repo.link("1", &classifier);
    // 2: the same graph with its id2label reversed: as fast, 200s, every label wrong.
    // 3: the same model as 1, which passes the same golden set.
    h.repo.link("2", &models_dir().join("faults/swapped-labels"));
    h.repo.link("3", &classifier);
    let analysis = json!({"interval": "1s", "minRequests": 5, "maxErrorRate": 0.05, "maxP99Latency": "2s",
                          "failureLimit": 2});
    let golden = json!({"configMap": "sentiment-golden", "minAccuracy": 1.0});
    let steps = json!({"steps": [{"weight": 50, "pause": "2s"}, {"weight": 100}], "analysis": analysis,
                       "loadTimeout": "60s", "maxLoadingPods": 2, "goldenSet": golden});
    h.create_ready(&h.manifest("1", 2, steps)).await;
    let load = Load::start(&h, 2).await;

    // The golden set: what the stable version answers on a few texts.
    let texts = [
        "a fine day",
        "the worst film of the year",
        "I loved every minute",
        "cold soup and a rude waiter",
        "nothing special",
        "a masterpiece",
        "never again",
        "quite good value",
    ];
    let labels = stable_labels(&h, &texts).await;
    let jsonl: String =
        texts.iter().zip(&labels).map(|(t, l)| json!({"text": t, "label": l}).to_string() + "\n").collect();
    eprintln!("  golden set from stable's answers: {labels:?}");
    let config_maps: Api<ConfigMap> = Api::namespaced(h.client.clone(), &h.namespace);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "sentiment-golden"}, "data": {"golden.jsonl": jsonl}
    }))
    .unwrap();
    config_maps.create(&PostParams::default(), &cm).await.unwrap();

    let r = expect_rollback(&h, &load, "2", "1", json!({"spec": {"version": "2"}}), RejectionReason::GoldenSet).await;
    assert!(r.reaction.is_none(), "2 took live traffic");
    assert_eq!(r.failed, 0, "{:?}", load.answers());
    let message = &r.status.rejected_versions.iter().find(|v| v.version == "2").unwrap().message;
    assert!(message.contains("accuracy 0.0000 (0 of 8)") && message.contains("minAccuracy 1"), "{message}");

    // 3 answers as 1 does: it passes the same golden set and is promoted.
    h.merge(json!({"spec": {"version": "3"}})).await;
    h.wait("promotion of 3", Duration::from_secs(120), |s| s.stable_version.as_deref() == Some("3")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let total = load.stop().await;
    eprintln!("  answers in total: {total:?}");
    assert!(!total.contains_key("2"), "the version that failed its golden set answered a client: {total:?}");
    assert!(!total.contains_key("failed"), "{total:?}");
    assert!(total.get("3").copied().unwrap_or(0) > 0, "{total:?}");
    h.shutdown().await;
}

/// The label stable gives each text, asked through the model's Service (V2 `label`).
async fn stable_labels(h: &Harness, texts: &[&str]) -> Vec<String> {
    let services: Api<Service> = Api::namespaced(h.client.clone(), &h.namespace);
    let ip = services.get(&h.name).await.unwrap().spec.unwrap().cluster_ip.unwrap();
    let body = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [texts.len()], "data": texts}],
                      "outputs": [{"name": "label"}]});
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{ip}:8501/v2/models/{}/infer", h.name))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let label = answer["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "label").unwrap();
    label["data"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}
