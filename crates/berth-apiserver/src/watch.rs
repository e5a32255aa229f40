//! Watch: a chunked stream of JSON lines `{"type":...,"object":...}` that
//! starts from a resourceVersion (or with synthetic ADDED events for what
//! exists), follows the store's event log exactly once per change, sends
//! BOOKMARKs when asked, and 410 when the version is older than the log.

use crate::error::ApiError;
use crate::ops::present;
use crate::resources::ResourceInfo;
use crate::selectors::Filter;
use crate::state::Shared;
use crate::store::{EventType, StoredEvent};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How often an idle watch that allows bookmarks gets one.
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct WatchParams {
    pub resource_version: Option<String>,
    pub namespace: Option<String>,
    pub filter: Filter,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Duration,
    /// `Some(includeObject)` when the client asked for Table events (kubectl get -w).
    pub table: Option<String>,
}

/// Turns objects into what the watcher asked for: objects, or one-row
/// Tables whose column definitions come with the first event only, as the
/// real server sends them.
struct Renderer {
    table: Option<String>,
    first: std::cell::Cell<bool>,
}

impl Renderer {
    fn render(&self, info: &ResourceInfo, version: &str, obj: Value) -> Value {
        let obj = present(info, version, obj);
        let Some(include) = &self.table else {
            return obj;
        };
        let rv = crate::meta::rv(&obj);
        let mut t = crate::table::table(info, version, &[obj], &rv, None, include);
        if !self.first.replace(false) {
            t["columnDefinitions"] = json!([]);
        }
        t
    }
}

fn line(etype: &str, object: Value) -> Bytes {
    let mut s = json!({"type": etype, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(info: &ResourceInfo, version: &str, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", json!({"kind": info.kind, "apiVersion": info.api_version(version), "metadata": meta}))
}

/// Turn a store event into what this watcher should see, if anything.
fn translate(ev: &StoredEvent, info: &ResourceInfo, version: &str, p: &WatchParams, r: &Renderer) -> Option<Bytes> {
    if ev.group != info.storage_group || ev.resource != info.plural {
        return None;
    }
    let in_ns = |o: &Value| p.namespace.as_deref().is_none_or(|ns| crate::meta::namespace(o) == ns);
    let now = in_ns(&ev.object) && p.filter.matches(&ev.object);
    let before = ev.prev.as_ref().is_some_and(|o| in_ns(o) && p.filter.matches(o));
    let etype = match ev.etype {
        EventType::Added if now => "ADDED",
        EventType::Deleted if now => "DELETED",
        EventType::Modified if now && before => "MODIFIED",
        EventType::Modified if now => "ADDED",
        EventType::Modified if before => "DELETED",
        _ => return None,
    };
    Some(line(etype, r.render(info, version, ev.object.clone())))
}

/// Start a watch; the returned channel yields the body's chunks.
pub fn start(
    shared: Arc<Shared>,
    info: ResourceInfo,
    version: String,
    p: WatchParams,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let r = Renderer { table: p.table.clone(), first: std::cell::Cell::new(true) };
    let (mut sub, start_rv) = {
        let st = shared.lock();
        let cur = st.store.current_rv();
        let rv = p.resource_version.as_deref().filter(|r| !r.is_empty() && *r != "0");
        let list_all = p.send_initial_events || rv.is_none();
        if list_all {
            for (_, o) in st.store.list(&info.storage_group, &info.plural, p.namespace.as_deref()) {
                if p.filter.matches(o) {
                    initial.push(line("ADDED", r.render(&info, &version, o.clone())));
                }
            }
            // The real server sends the end-of-initial-events bookmark only to
            // watchers that allow bookmarks (and accepts the watch without).
            if p.send_initial_events && p.bookmarks {
                initial.push(bookmark(&info, &version, cur, true));
            }
        } else if let Some(rv) = rv {
            let n: u64 = rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
            match st.store.events_since(n, &info.storage_group, &info.plural) {
                Some(evs) => {
                    for ev in evs {
                        initial.extend(translate(&ev, &info, &version, &p, &r));
                    }
                }
                None => {
                    // The real server answers 200 then an ERROR event.
                    let status = ApiError::gone(format!("too old resource version: {n} ({cur})")).status_json();
                    initial.push(line("ERROR", status));
                    let _ = tx.try_send(initial.remove(0));
                    return Ok(rx);
                }
            }
        }
        (st.store.subscribe(), cur)
    };
    let mut closing = shared.closing();
    tokio::spawn(async move {
        for chunk in initial {
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(p.timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(BOOKMARK_INTERVAL);
        tick.tick().await;
        // Highest version this watcher has seen through; every event at or
        // below it has been delivered, so a bookmark may name it.
        let mut seen = start_rv;
        loop {
            tokio::select! {
                ev = sub.recv() => match ev {
                    Ok(ev) => {
                        seen = seen.max(ev.rv);
                        if let Some(chunk) = translate(&ev, &info, &version, &p, &r)
                            && tx.send(chunk).await.is_err() {
                                return;
                            }
                    }
                    // Lagged: the client re-watches from its last version.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick(), if p.bookmarks => {
                    if tx.send(bookmark(&info, &version, seen, false)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = closing.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    Ok(rx)
}
