//! Field sets in the `FieldsV1` format managedFields use: a tree whose keys
//! are `f:<field>`, `k:<json of the item's keys>` (items of keyed lists),
//! `v:<json value>` (items of sets) and `.` (the item itself); an empty
//! object is a leaf, i.e. an owned field.

use super::shape::{ListType, Shape};
use serde_json::{Map, Value};

pub type Tree = Map<String, Value>;
pub type Path = Vec<String>;

/// The fields an object (an applied configuration) sets.
pub fn from_object(obj: &Value, shape: Shape<'_>) -> Tree {
    let mut tree = Tree::new();
    let Some(m) = obj.as_object() else {
        return tree;
    };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                let mut meta = Tree::new();
                for f in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(val) = v.get(f) {
                        let node = walk(val, shape, &mut vec!["metadata".into(), f.into()]);
                        meta.insert(format!("f:{f}"), Value::Object(node));
                    }
                }
                if !meta.is_empty() {
                    tree.insert("f:metadata".into(), Value::Object(meta));
                }
            }
            _ => {
                let node = walk(v, shape, &mut vec![k.clone()]);
                tree.insert(format!("f:{k}"), Value::Object(node));
            }
        }
    }
    tree
}

fn item_key_json(item: &Value, keys: &[String]) -> String {
    let mut m = Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m).to_string()
}

fn walk(v: &Value, shape: Shape<'_>, path: &mut Vec<String>) -> Tree {
    let mut node = Tree::new();
    match v {
        Value::Object(_) if shape.atomic_object(path) => {}
        Value::Object(m) => {
            for (k, child) in m {
                if child.is_null() {
                    continue;
                }
                path.push(k.clone());
                let sub = walk(child, shape, path);
                path.pop();
                node.insert(format!("f:{k}"), Value::Object(sub));
            }
        }
        Value::Array(items) => match shape.list_type(path) {
            ListType::Map(keys) => {
                for item in items {
                    let mut sub = walk(item, shape, path);
                    sub.insert(".".into(), Value::Object(Tree::new()));
                    node.insert(format!("k:{}", item_key_json(item, &keys)), Value::Object(sub));
                }
            }
            ListType::Set => {
                for item in items {
                    node.insert(format!("v:{item}"), Value::Object(Tree::new()));
                }
            }
            ListType::Atomic => {}
        },
        _ => {}
    }
    node
}

/// Paths to every node with children (not leaves), parents before children.
pub fn inner_nodes(tree: &Tree) -> Vec<Path> {
    let mut out = Vec::new();
    fn go(t: &Tree, cur: &mut Path, out: &mut Vec<Path>) {
        for (k, v) in t {
            if let Some(sub) = v.as_object().filter(|s| !s.is_empty()) {
                cur.push(k.clone());
                out.push(cur.clone());
                go(sub, cur, out);
                cur.pop();
            }
        }
    }
    go(tree, &mut Vec::new(), &mut out);
    out
}

/// Paths to every leaf.
pub fn leaves(tree: &Tree) -> Vec<Path> {
    let mut out = Vec::new();
    fn go(t: &Tree, cur: &mut Path, out: &mut Vec<Path>) {
        for (k, v) in t {
            cur.push(k.clone());
            match v.as_object() {
                Some(sub) if !sub.is_empty() => go(sub, cur, out),
                _ => out.push(cur.clone()),
            }
            cur.pop();
        }
    }
    go(tree, &mut Vec::new(), &mut out);
    out
}

pub fn insert(tree: &mut Tree, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let entry = tree.entry(first.clone()).or_insert_with(|| Value::Object(Tree::new()));
    if let Value::Object(sub) = entry {
        insert(sub, rest);
    }
}

pub fn contains(tree: &Tree, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    match tree.get(first).and_then(Value::as_object) {
        Some(sub) if rest.is_empty() => sub.is_empty(),
        Some(sub) => contains(sub, rest),
        None => false,
    }
}

/// Remove a leaf, pruning parents that become empty (an empty parent would
/// otherwise read as an owned leaf).
pub fn remove(tree: &mut Tree, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        tree.remove(first);
        return;
    }
    let mut now_empty = false;
    if let Some(Value::Object(sub)) = tree.get_mut(first) {
        remove(sub, rest);
        now_empty = sub.is_empty();
    }
    if now_empty {
        tree.remove(first);
    }
}

fn find_item(list: &[Value], elem: &str) -> Option<usize> {
    if let Some(k) = elem.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(k).ok()?;
        list.iter().position(|i| want.iter().all(|(kk, vv)| i.get(kk) == Some(vv)))
    } else if let Some(v) = elem.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        list.iter().position(|i| *i == want)
    } else if let Some(i) = elem.strip_prefix("i:") {
        i.parse().ok()
    } else {
        None
    }
}

/// The value a field path points at.
pub fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for elem in path {
        if elem == "." {
            continue;
        }
        cur = if let Some(f) = elem.strip_prefix("f:") {
            cur.get(f)?
        } else {
            let list = cur.as_array()?;
            &list[find_item(list, elem)?]
        };
    }
    Some(cur)
}

/// Remove what a field path points at (the whole item for a `.` leaf).
pub fn remove_value(obj: &mut Value, path: &[String]) {
    let path: Vec<&String> = path.iter().filter(|e| *e != ".").collect();
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for elem in init {
        let next = if let Some(f) = elem.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            match cur.as_array_mut() {
                Some(list) => match find_item(list, elem) {
                    Some(i) => list.get_mut(i),
                    None => None,
                },
                None => None,
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(list) = cur.as_array_mut()
        && let Some(i) = find_item(list, last)
    {
        list.remove(i);
    }
}

/// `.spec.containers[name="app"].image`, as conflict messages print paths.
pub fn display(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}
