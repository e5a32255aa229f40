use crate::common::*;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::time::Duration;

fn describe(e: &WatchEvent<ConfigMap>) -> Option<String> {
    match e {
        WatchEvent::Added(o) => Some(format!("ADDED {}", o.metadata.name.clone().unwrap())),
        WatchEvent::Modified(o) => Some(format!("MODIFIED {}", o.metadata.name.clone().unwrap())),
        WatchEvent::Deleted(o) => Some(format!("DELETED {}", o.metadata.name.clone().unwrap())),
        _ => None,
    }
}

#[tokio::test]
async fn watch_from_version_delivers_each_later_change_once() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = create_cm(&api, "a", json!({})).await;
    let from = first.metadata.resource_version.clone().unwrap();
    create_cm(&api, "b", json!({})).await;
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "2"}}))).await.unwrap();
    let stream = api.watch(&WatchParams::default().timeout(3), &from).await.unwrap();
    tokio::pin!(stream);
    // Changes after the watch started arrive too.
    let api2 = api.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        api2.delete("b", &DeleteParams::default()).await.unwrap();
    });
    let mut seen = Vec::new();
    let mut bookmarks = 0;
    let mut last_rv = 0u64;
    while let Some(ev) = stream.try_next().await.unwrap() {
        if let WatchEvent::Bookmark(b) = &ev {
            bookmarks += 1;
            let rv: u64 = b.metadata.resource_version.parse().unwrap();
            assert!(rv >= last_rv);
        }
        if let Some(d) = describe(&ev) {
            seen.push(d);
        }
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &ev {
            let rv: u64 = o.metadata.resource_version.clone().unwrap().parse().unwrap();
            assert!(rv > last_rv, "versions increase along the watch");
            last_rv = rv;
        }
        if bookmarks >= 1 && seen.len() >= 3 {
            break;
        }
    }
    assert_eq!(seen, ["ADDED b", "MODIFIED a", "DELETED b"]);
    assert!(bookmarks >= 1, "bookmarks are sent when allowed");
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_with_too_old_version_gets_410() {
    let (h, client) = server_with_log(5).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let first = create_cm(&api, "a", json!({})).await;
    for i in 0..10 {
        create_cm(&api, &format!("x{i}"), json!({})).await;
    }
    let from = first.metadata.resource_version.unwrap();
    let stream = api.watch(&WatchParams::default().timeout(2), &from).await.unwrap();
    tokio::pin!(stream);
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn selector_watch_turns_label_changes_into_added_and_deleted() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let c = create_cm(&api, "a", json!({"on": "no"})).await;
    let from = c.metadata.resource_version.unwrap();
    let stream =
        api.watch(&WatchParams::default().labels("on=yes").timeout(3).disable_bookmarks(), &from).await.unwrap();
    tokio::pin!(stream);
    let pp = PatchParams::default();
    api.patch("a", &pp, &Patch::Merge(json!({"metadata": {"labels": {"on": "yes"}}}))).await.unwrap();
    api.patch("a", &pp, &Patch::Merge(json!({"data": {"k": "1"}}))).await.unwrap();
    api.patch("a", &pp, &Patch::Merge(json!({"metadata": {"labels": {"on": "no"}}}))).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = stream.try_next().await.unwrap().unwrap();
        seen.extend(describe(&ev));
    }
    assert_eq!(seen, ["ADDED a", "MODIFIED a", "DELETED a"]);
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn runtime_watcher_streaming_list_and_list_watch() {
    let (h, client) = server().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    create_cm(&api, "pre", json!({})).await;
    for cfg in [watcher::Config::default(), watcher::Config::default().streaming_lists()] {
        let stream = watcher(api.clone(), cfg).applied_objects();
        tokio::pin!(stream);
        wait_for(&mut stream, "pre".into()).await;
        let name = format!("new-{}", rand_suffix());
        create_cm(&api, &name, json!({})).await;
        wait_for(&mut stream, name).await;
    }
    h.shutdown().await.unwrap();
}

fn rand_suffix() -> String {
    format!("{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos())
}

async fn wait_for<S>(stream: &mut S, want: String)
where
    S: futures::Stream<Item = Result<ConfigMap, watcher::Error>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(o) = stream.try_next().await.unwrap() {
            if o.metadata.name.as_deref() == Some(want.as_str()) {
                return;
            }
        }
        panic!("watch ended before {want}");
    })
    .await
    .unwrap()
}
