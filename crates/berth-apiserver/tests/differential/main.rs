//! Differential test: the same requests to berth-apiserver and to the real
//! kube-apiserver (v1.36.3 on etcd v3.6.16), answers compared structurally.
//!
//! - default (`cargo test`, `make test`): berth-apiserver against the
//!   committed golden file `kube-v1.36.3.json`, the real server's normalised
//!   answers; no kube binaries needed.
//! - `BERTH_DIFF_RECORD=1`: start a private etcd + kube-apiserver, rewrite
//!   the golden file from their answers.
//! - `BERTH_DIFF_LIVE=1` (`make apiserver-differential-live`): both servers
//!   live, compared directly, and the golden file checked against the real one.
//!
//! Differences listed in `accepted.json` (mirrored in the README's
//! "Differences from kube-apiserver") pass; any other fails with a diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod diff;
mod kube;
mod normalize;
mod scenario;

use berth_apiserver::ApiServerConfig;
use client::Server;
use scenario::Answers;
use serde_json::{Value, json};
use std::path::PathBuf;

const SERVER: &str = "kube-apiserver v1.36.3, etcd v3.6.16";

fn here(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/differential")).join(name)
}

fn golden_path() -> PathBuf {
    here("kube-v1.36.3.json")
}

fn to_file(a: &Answers) -> String {
    let answers: Vec<Value> = a.iter().map(|(s, v)| json!({"step": s, "answer": v})).collect();
    let mut s = serde_json::to_string_pretty(&json!({"server": SERVER, "answers": answers})).expect("json");
    s.push('\n');
    s
}

fn from_file(text: &str) -> Answers {
    let v: Value = serde_json::from_str(text).expect("golden file is JSON");
    v["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|e| (e["step"].as_str().expect("step").to_string(), e["answer"].clone()))
        .collect()
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

async fn berth_answers() -> Answers {
    let h = berth_apiserver::start(ApiServerConfig::default()).await.expect("berth-apiserver");
    let a = scenario::run(&Server::new(&h.url(), "berth-local"), scenario::Compact::Berth(&h)).await;
    h.shutdown().await.expect("shutdown");
    if let Ok(path) = std::env::var("BERTH_DIFF_DUMP") {
        std::fs::write(&path, to_file(&a)).expect("write BERTH_DIFF_DUMP");
    }
    a
}

async fn kube_answers() -> Answers {
    let k = kube::KubeServers::start().await;
    scenario::run(&k.client(), scenario::Compact::Etcd(&k.etcd_url)).await
}

/// Compare, print the counts and every difference, and fail on one not accepted.
fn judge(label: &str, berth: &Answers, kube: &Answers) {
    let accepted = diff::load_accepted(&std::fs::read_to_string(here("accepted.json")).expect("accepted.json"));
    let d = diff::compare(berth, kube, &accepted);
    let (differ, open) = diff::counts(&d);
    let fields_open = d.iter().filter(|x| x.accepted.is_none()).count();
    println!(
        "differential ({label}): {} answers compared, {differ} differ, {open} with differences not accepted \
         ({} field differences, {fields_open} not accepted)",
        kube.len(),
        d.len()
    );
    if flag("BERTH_DIFF_VERBOSE") {
        print!("{}", diff::render(&d, true));
    }
    assert!(open == 0, "berth-apiserver differs from {SERVER} ({label}):\n{}", diff::render(&d, false));
}

/// The 410 a compacted watch gets from berth-apiserver is the real server's
/// ERROR event for a version older than its watch cache, word for word.
fn check_expired_event(berth: &Answers, kube: &Answers) {
    let find = |a: &Answers, step: &str| a.iter().find(|(s, _)| s == step).map(|(_, v)| v.clone());
    let b = find(berth, "watch.compacted.rv-1").expect("berth answered watch.compacted.rv-1");
    let k = find(kube, "watch.too-old.bertmodel").expect("kube answered watch.too-old.bertmodel");
    assert_eq!(b, k, "berth-apiserver's 410 ERROR event differs from the real server's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_apiserver_answers_like_kube_apiserver() {
    if flag("BERTH_DIFF_RECORD") {
        let kube = kube_answers().await;
        std::fs::write(golden_path(), to_file(&kube)).expect("write golden file");
        println!("differential: recorded {} answers into {}", kube.len(), golden_path().display());
        let berth = berth_answers().await;
        check_expired_event(&berth, &kube);
        judge("berth vs recorded kube", &berth, &kube);
        return;
    }
    let golden = from_file(&std::fs::read_to_string(golden_path()).expect("golden file"));
    let berth = berth_answers().await;
    if flag("BERTH_DIFF_LIVE") {
        let kube = kube_answers().await;
        let stale = diff::compare(&golden, &kube, &[]);
        assert!(
            stale.is_empty(),
            "the golden file no longer matches {SERVER}: rerun with BERTH_DIFF_RECORD=1\n{}",
            diff::render(&stale, false).replace("berth:", "golden:")
        );
        check_expired_event(&berth, &kube);
        judge("berth vs live kube", &berth, &kube);
    } else {
        check_expired_event(&berth, &golden);
        judge("berth vs golden file", &berth, &golden);
    }
}

/// Every accepted difference is explained in the README too.
#[test]
fn accepted_differences_are_in_the_readme() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme
        .split("## Differences from kube-apiserver")
        .nth(1)
        .expect("README has a 'Differences from kube-apiserver' section");
    let list: Vec<diff::Accepted> =
        serde_json::from_str(&std::fs::read_to_string(here("accepted.json")).expect("accepted.json"))
            .expect("accepted.json");
    for a in list {
        assert!(
            section.contains(&format!("`{}`", a.step)),
            "README's differences section does not name `{}` ({})",
            a.step,
            a.why
        );
    }
}
