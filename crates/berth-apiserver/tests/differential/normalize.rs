//! What legitimately differs between two servers is replaced by placeholders:
//! uids, timestamps, resourceVersion values (in metadata and in messages),
//! and periodic BOOKMARK events (their timing is the server's choice; the
//! `k8s.io/initial-events-end` bookmark is kept).

use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;

static UID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("regex"));
static TS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)").expect("regex"));
static RV_IN_MESSAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(resource version: )\d+ \(\d+\)").expect("regex"));

const ZERO_UID: &str = "00000000-0000-0000-0000-000000000000";

pub fn normalize(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(events) = v.get_mut("body").and_then(Value::as_array_mut) {
        events.retain(|e| {
            e["type"] != "BOOKMARK" || e["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
        });
    }
    walk(&mut v);
    v
}

fn walk(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(meta)) = m.get_mut("metadata") {
                metadata(meta);
            }
            // managedFields are ordered by time (seconds) first: whether two
            // writes fall in the same second is chance, so order without it.
            if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
                let key = |e: &Value| {
                    ["operation", "manager", "apiVersion", "subresource"]
                        .map(|k| e[k].as_str().unwrap_or_default().to_string())
                };
                mf.sort_by_key(key);
            }
            for (_, x) in m.iter_mut() {
                walk(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(walk),
        Value::String(s) => *s = text(s),
        _ => {}
    }
}

fn metadata(meta: &mut Map<String, Value>) {
    for key in ["resourceVersion", "continue"] {
        if let Some(Value::String(s)) = meta.get_mut(key)
            && !s.is_empty()
        {
            *s = "<rv>".to_string();
        }
    }
}

fn text(s: &str) -> String {
    let s = s.replace(ZERO_UID, "<zero-uid>");
    let s = UID.replace_all(&s, "<uid>");
    let s = TS.replace_all(&s, "<ts>");
    RV_IN_MESSAGE.replace_all(&s, "${1}<rv> (<rv>)").into_owned()
}
