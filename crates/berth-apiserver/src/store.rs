//! The object store: every object in memory, one global increasing
//! resourceVersion, and a bounded event log that watches resume from.

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events kept for watch resume; older versions answer 410 Gone.
pub const EVENT_LOG_CAPACITY: usize = 10_000;

/// Objects are keyed by group and resource (not version: every served
/// version of a resource shares one stored object, as in Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(group: &str, resource: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug)]
pub struct StoredEvent {
    pub rv: u64,
    pub group: String,
    pub resource: String,
    pub etype: EventType,
    pub object: Value,
    /// The object before a MODIFIED change, so a watch with a selector can
    /// turn "stopped matching" into DELETED and "started matching" into ADDED.
    pub prev: Option<Value>,
}

pub struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    log: VecDeque<Arc<StoredEvent>>,
    /// Highest resourceVersion that fell off the log (0 while nothing has).
    evicted_rv: u64,
    capacity: usize,
    tx: broadcast::Sender<Arc<StoredEvent>>,
}

pub fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(capacity.max(1024));
        Self { objects: BTreeMap::new(), rv: 1, log: VecDeque::new(), evicted_rv: 0, capacity, tx }
    }

    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.tx.subscribe()
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one resource, optionally one namespace, ordered by (namespace, name).
    pub fn list<'a>(
        &'a self,
        group: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        let start = Key::new(group, resource, namespace.unwrap_or(""), "");
        self.objects.range(start..).take_while(move |(k, _)| {
            k.group == group && k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    pub fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter()
    }

    fn record(&mut self, key: &Key, etype: EventType, object: Value, prev: Option<Value>) {
        let ev = Arc::new(StoredEvent {
            rv: self.rv,
            group: key.group.clone(),
            resource: key.resource.clone(),
            etype,
            object,
            prev,
        });
        if self.log.len() >= self.capacity
            && let Some(old) = self.log.pop_front()
        {
            self.evicted_rv = old.rv;
        }
        self.log.push_back(ev.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    /// Store a new or changed object under a fresh resourceVersion.
    pub fn put(&mut self, key: Key, mut obj: Value) -> Value {
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let prev = self.objects.insert(key.clone(), obj.clone());
        let etype = if prev.is_some() { EventType::Modified } else { EventType::Added };
        self.record(&key, etype, obj.clone(), prev);
        obj
    }

    /// Remove an object; the DELETED event carries a fresh resourceVersion.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut obj = self.objects.remove(key)?;
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        self.record(key, EventType::Deleted, obj.clone(), None);
        Some(obj)
    }

    /// Forget every event so far, as etcd's compaction does: watches from an
    /// older resourceVersion get 410 Gone.
    pub fn compact(&mut self) {
        self.evicted_rv = self.rv;
        self.log.clear();
    }

    /// Events after `rv` for one resource, or None when `rv` is older than the log.
    pub fn events_since(&self, rv: u64, group: &str, resource: &str) -> Option<Vec<Arc<StoredEvent>>> {
        if rv < self.evicted_rv {
            return None;
        }
        Some(self.log.iter().filter(|e| e.rv > rv && e.group == group && e.resource == resource).cloned().collect())
    }

    /// Everything, for persistence.
    pub fn snapshot(&self) -> Value {
        let objects: Vec<Value> = self
            .objects
            .iter()
            .map(|(k, v)| serde_json::json!({"group": k.group, "resource": k.resource, "object": v}))
            .collect();
        serde_json::json!({"resourceVersion": self.rv, "objects": objects})
    }

    pub fn restore(&mut self, snap: &Value) {
        self.rv = snap.get("resourceVersion").and_then(Value::as_u64).unwrap_or(1).max(self.rv);
        // Watches cannot resume across a restart.
        self.evicted_rv = self.rv;
        for entry in snap.get("objects").and_then(Value::as_array).into_iter().flatten() {
            let (Some(g), Some(r), Some(o)) = (
                entry.get("group").and_then(Value::as_str),
                entry.get("resource").and_then(Value::as_str),
                entry.get("object"),
            ) else {
                continue;
            };
            let ns = crate::meta::namespace(o);
            let name = crate::meta::name(o);
            self.objects.insert(Key::new(g, r, &ns, &name), o.clone());
        }
    }
}
