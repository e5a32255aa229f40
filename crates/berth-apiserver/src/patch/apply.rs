//! Server-side apply and managedFields bookkeeping.
//!
//! Each manager owns a set of fields (see `fieldset`). Apply merges the
//! applied configuration into the live object, removes fields the manager
//! applied before but no longer applies (unless another manager owns them),
//! and refuses to change fields another manager owns with a different value
//! unless `force` is set, in which case ownership moves.

use super::fieldset::{self, Path, Tree};
use super::shape::{ListType, Shape};
use crate::meta;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub subresource: Option<String>,
    pub time: String,
    pub fields: Tree,
}

pub fn read_entries(obj: &Value) -> Vec<Entry> {
    meta::meta(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    Entry {
                        manager: s("manager"),
                        operation: s("operation"),
                        api_version: s("apiVersion"),
                        subresource: e.get("subresource").and_then(Value::as_str).map(str::to_string),
                        time: s("time"),
                        fields: e.get("fieldsV1").and_then(Value::as_object).cloned().unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The order the real server keeps managedFields in: Apply before Update,
/// then by time, manager, apiVersion and subresource.
fn order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    (&a.operation, &a.time, &a.manager, &a.api_version, &a.subresource).cmp(&(
        &b.operation,
        &b.time,
        &b.manager,
        &b.api_version,
        &b.subresource,
    ))
}

pub fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.sort_by(order);
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": Value::Object(e.fields),
            });
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    let m = meta::meta_mut(obj);
    if list.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(list));
    }
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub manager: String,
    /// The manager as the real server prints it: `"name"`, plus
    /// ` with subresource "status"`, plus ` using v1` for Update managers.
    pub label: String,
    pub path: Path,
}

fn label(e: &Entry) -> String {
    let mut s = format!("{:?}", e.manager);
    if let Some(sub) = &e.subresource {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if e.operation == "Update" {
        s.push_str(&format!(" using {}", e.api_version));
    }
    s
}

/// Structural merge of an applied configuration into a live object.
fn merge(live: &Value, cfg: &Value, shape: Shape<'_>, path: &mut Vec<String>) -> Value {
    match (live, cfg) {
        (Value::Object(_), Value::Object(_)) if shape.atomic_object(path) => cfg.clone(),
        (Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, v) in c {
                if v.is_null() {
                    continue;
                }
                path.push(k.clone());
                let merged = match out.get(k) {
                    Some(lv) => merge(lv, v, shape, path),
                    None => v.clone(),
                };
                path.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match shape.list_type(path) {
            ListType::Map(keys) => {
                let mut out = l.clone();
                for item in c {
                    let pos = out.iter().position(|o| keys.iter().all(|k| o.get(k) == item.get(k)));
                    match pos {
                        Some(i) => out[i] = merge(&out[i], item, shape, path),
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            }
            ListType::Set => {
                let mut out = l.clone();
                for item in c {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            ListType::Atomic => cfg.clone(),
        },
        _ => cfg.clone(),
    }
}

pub struct Applied {
    pub object: Value,
}

/// Apply `cfg` as `manager`. `live` is the current object (None on create).
pub fn apply(
    live: Option<&Value>,
    cfg: &Value,
    manager: &str,
    subresource: Option<&str>,
    force: bool,
    shape: Shape<'_>,
    api_version: &str,
) -> Result<Applied, Vec<Conflict>> {
    let empty = json!({});
    let live_obj = live.unwrap_or(&empty);
    let new_set = fieldset::from_object(cfg, shape);
    let new_leaves = fieldset::leaves(&new_set);
    let mut entries = read_entries(live_obj);
    let is_mine = |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource.as_deref() == subresource;

    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| !is_mine(e)) {
        for leaf in &new_leaves {
            if leaf.last().map(String::as_str) == Some(".") || !fieldset::contains(&e.fields, leaf) {
                continue;
            }
            let (Some(a), Some(b)) = (fieldset::get(live_obj, leaf), fieldset::get(cfg, leaf)) else {
                continue;
            };
            if a != b {
                conflicts.push(Conflict { manager: e.manager.clone(), label: label(e), path: leaf.clone() });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflicts);
        }
        // Forcing moves ownership of the conflicting fields to this manager.
        for c in &conflicts {
            for e in entries.iter_mut().filter(|e| e.manager == c.manager) {
                fieldset::remove(&mut e.fields, &c.path);
            }
        }
    }

    let mut obj = merge(live_obj, cfg, shape, &mut Vec::new());
    let old_set = entries.iter().find(|e| is_mine(e)).map(|e| e.fields.clone()).unwrap_or_default();
    // Fields this manager stopped applying go away unless someone else owns them.
    let mut dropped: Vec<Path> = fieldset::leaves(&old_set)
        .into_iter()
        .filter(|p| !fieldset::contains(&new_set, p))
        .filter(|p| !entries.iter().filter(|e| !is_mine(e)).any(|e| fieldset::contains(&e.fields, p)))
        .collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in &dropped {
        fieldset::remove_value(&mut obj, p);
    }

    let mine = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        subresource: subresource.map(str::to_string),
        time: meta::now(),
        fields: new_set,
    };
    // Keep the entry where it was, so re-applying the same configuration leaves
    // managedFields equal (up to times) and the write is recognised as a no-op.
    let mut seen = false;
    entries.retain(|e| !is_mine(e) || !std::mem::replace(&mut seen, true));
    match entries.iter().position(is_mine) {
        Some(index) => entries[index] = mine,
        None => entries.push(mine),
    }
    write_entries(&mut obj, entries);
    Ok(Applied { object: obj })
}

/// Record an Update (PUT/PATCH/create) by `manager`: the fields it changed
/// become its own and leave other managers; fields that no longer exist leave
/// every manager.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    status_subresource: bool,
    shape: Shape<'_>,
    api_version: &str,
) {
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    let mut entries = match meta::meta(new).and_then(|m| m.get("managedFields")) {
        Some(v)
            if !v.is_null() && old.is_some_and(|o| meta::meta(o).and_then(|m| m.get("managedFields")) != Some(v)) =>
        {
            // The client sent its own managedFields: take them as they are.
            read_entries(new)
        }
        _ => read_entries(old_obj),
    };
    let mut stripped = new.clone();
    if let Some(m) = stripped.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    let changed: Vec<Path> = fieldset::leaves(&fieldset::from_object(&stripped, shape))
        .into_iter()
        .filter(|p| fieldset::get(old_obj, p) != fieldset::get(&stripped, p))
        .filter(|p| {
            // With a status subresource, status belongs to it and the rest to
            // the main resource (also on create, as the real server resets it).
            let is_status = p.first().map(String::as_str) == Some("f:status");
            !status_subresource || is_status == (subresource == Some("status"))
        })
        .collect();
    for e in entries.iter_mut() {
        for p in &changed {
            fieldset::remove(&mut e.fields, p);
        }
        for p in fieldset::leaves(&e.fields.clone()) {
            if fieldset::get(&stripped, &p).is_none() {
                fieldset::remove(&mut e.fields, &p);
            }
        }
    }
    if !changed.is_empty() {
        let pos = entries
            .iter()
            .position(|e| e.manager == manager && e.operation == "Update" && e.subresource.as_deref() == subresource);
        let entry = match pos {
            Some(i) => &mut entries[i],
            None => {
                entries.push(Entry {
                    manager: manager.to_string(),
                    operation: "Update".into(),
                    api_version: api_version.to_string(),
                    subresource: subresource.map(str::to_string),
                    time: String::new(),
                    fields: Map::new(),
                });
                let last = entries.len() - 1;
                &mut entries[last]
            }
        };
        for p in &changed {
            fieldset::insert(&mut entry.fields, p);
        }
        for node in fieldset::inner_nodes(&entry.fields.clone()) {
            if added_node(old, &stripped, &node, shape) {
                let mut dot = node.clone();
                dot.push(".".into());
                fieldset::insert(&mut entry.fields, &dot);
            }
        }
        entry.time = meta::now();
        entry.api_version = api_version.to_string();
    }
    write_entries(new, entries);
}

/// Whether an Update that created `node` owns the node itself (`.` in
/// FieldsV1), as the real server records it: every node the write added,
/// except metadata. For built-in kinds, whose empty Go structs exist before
/// any write, only maps (labels, annotations, data) and lists count.
fn added_node(old: Option<&Value>, new: &Value, node: &[String], shape: Shape<'_>) -> bool {
    if node == ["f:metadata"] || node.last().is_some_and(|l| l.starts_with("k:") || l.starts_with("v:")) {
        return false;
    }
    if old.is_some_and(|o| fieldset::get(o, node).is_some()) {
        return false;
    }
    let Some(v) = fieldset::get(new, node) else {
        return false;
    };
    match shape {
        Shape::Custom(_) => true,
        Shape::Builtin => {
            let last = node.last().map(String::as_str).unwrap_or_default();
            // A pod's containers list is never omitted from the Go type's JSON.
            (v.is_array() && last != "f:containers")
                || matches!(
                    last,
                    "f:labels" | "f:annotations" | "f:data" | "f:binaryData" | "f:stringData" | "f:rollingUpdate"
                )
        }
    }
}

/// Conflict message as the real server words it.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.label, fieldset::display(&c.path));
    }
    let mut s = format!("Apply failed with {} conflicts:", conflicts.len());
    let mut by_mgr: Vec<(String, Vec<String>)> = Vec::new();
    for c in conflicts {
        let p = fieldset::display(&c.path);
        match by_mgr.iter_mut().find(|(m, _)| *m == c.label) {
            Some((_, ps)) => ps.push(p),
            None => by_mgr.push((c.label.clone(), vec![p])),
        }
    }
    for (m, ps) in by_mgr {
        s.push_str(&format!(" conflicts with {m}:"));
        for p in ps {
            s.push_str(&format!("\n- {p}"));
        }
    }
    s
}
