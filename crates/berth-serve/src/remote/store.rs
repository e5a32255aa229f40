//! A bucket and key prefix behind any `object_store` client: listing the
//! versions and downloading their objects.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as Key;
use tokio::io::AsyncWriteExt;

use super::RemoteError;
use super::location::{self, Env};

/// How long a request or a download may go without a byte before it fails.
const STALL: Duration = Duration::from_secs(60);

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub location: Key,
    pub size: u64,
    pub etag: String,
}

impl Object {
    /// The full key, as the store spells it.
    pub fn key(&self) -> &str {
        self.location.as_ref()
    }
}

/// Where the versions are: a client and the key prefix inside its bucket.
#[derive(Debug)]
pub struct RemoteStore {
    /// The URI as given, for messages.
    uri: String,
    store: Arc<dyn ObjectStore>,
    /// Key prefix without slashes at either end (may be empty).
    prefix: String,
}

impl RemoteStore {
    /// Reads the URI and the environment (`location` says which variables).
    pub fn from_uri(uri: &str) -> Result<Self, RemoteError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::from_uri_with(uri, &vars)
    }

    /// As `from_uri`, with the environment given.
    pub fn from_uri_with(uri: &str, vars: &[(String, String)]) -> Result<Self, RemoteError> {
        let (store, prefix) = location::open(uri, &Env(vars))?;
        Ok(Self::new(uri, store, &prefix))
    }

    /// Versions under `prefix` of `store` (any object_store client: tests use InMemory).
    pub fn new(uri: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self { uri: uri.trim_end_matches('/').to_string(), store, prefix: prefix.trim_matches('/').to_string() }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `{prefix}/{rest}` (or `rest` at the bucket's root).
    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() { rest.to_string() } else { format!("{}/{rest}", self.prefix) }
    }

    async fn within<T>(&self, step: impl Future<Output = T>) -> Result<T, RemoteError> {
        tokio::time::timeout(STALL, step)
            .await
            .map_err(|_| RemoteError::Stalled { uri: self.uri.clone(), seconds: STALL.as_secs() })
    }

    /// Every object under `{prefix}/{sub}`, all pages, without directory markers.
    pub async fn list(&self, sub: &str) -> Result<Vec<Object>, RemoteError> {
        let under = self.key(sub);
        let under = under.trim_matches('/');
        let prefix = if under.is_empty() {
            None
        } else {
            Some(
                Key::parse(under)
                    .map_err(|e| RemoteError::Location { uri: self.uri.clone(), message: e.to_string() })?,
            )
        };
        let mut stream = self.store.list(prefix.as_ref());
        let mut objects = Vec::new();
        while let Some(item) = self.within(stream.next()).await? {
            let meta = item.map_err(|e| RemoteError::fetch(&self.uri, e))?;
            objects.push(Object { location: meta.location, size: meta.size, etag: meta.e_tag.unwrap_or_default() });
        }
        Ok(without_directory_markers(objects, under))
    }

    /// The version directories under the prefix (every first path segment), each
    /// with a fingerprint of its objects (keys, sizes, ETags): one listing for all.
    pub async fn versions(&self) -> Result<BTreeMap<String, u64>, RemoteError> {
        let objects = self.list("").await?;
        let base = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        let mut by_version: BTreeMap<String, Vec<&Object>> = BTreeMap::new();
        for object in &objects {
            if let Some((first, _)) = object.key().strip_prefix(&base).and_then(|rest| rest.split_once('/')) {
                by_version.entry(first.to_string()).or_default().push(object);
            }
        }
        Ok(by_version.into_iter().map(|(v, objs)| (v, fingerprint(objs.into_iter()))).collect())
    }

    /// Downloads `object` to `to`, returning the bytes written.
    pub async fn download(&self, object: &Object, to: &Path) -> Result<u64, RemoteError> {
        let fetch = |e| RemoteError::fetch(&format!("{}: {}", self.uri, object.key()), e);
        let got = self.within(self.store.get(&object.location)).await?.map_err(fetch)?;
        let mut body = got.into_stream();
        let mut file = tokio::fs::File::create(to).await.map_err(|e| RemoteError::io(to, e))?;
        let mut bytes = 0u64;
        while let Some(chunk) = self.within(body.next()).await? {
            let chunk = chunk.map_err(fetch)?;
            file.write_all(&chunk).await.map_err(|e| RemoteError::io(to, e))?;
            bytes += chunk.len() as u64;
        }
        file.sync_all().await.map_err(|e| RemoteError::io(to, e))?;
        Ok(bytes)
    }
}

/// Drops the empty objects that consoles create for "folders" (`a/1/` on S3):
/// object_store lists them as `a/1`, a key that is also the parent of others or
/// the listed prefix itself.
fn without_directory_markers(objects: Vec<Object>, listed: &str) -> Vec<Object> {
    let parents: HashSet<&str> =
        objects.iter().flat_map(|o| o.key().match_indices('/').map(|(at, _)| &o.key()[..at])).collect();
    let markers: HashSet<String> = objects
        .iter()
        .filter(|o| o.size == 0 && (o.key() == listed || parents.contains(o.key())))
        .map(|o| o.key().to_string())
        .collect();
    objects.into_iter().filter(|o| !markers.contains(o.key())).collect()
}

/// A stable hash of a version's objects: changes when any key, size or ETag does.
pub fn fingerprint<'a>(objects: impl Iterator<Item = &'a Object>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut sorted: Vec<&Object> = objects.collect();
    sorted.sort_by(|a, b| a.key().cmp(b.key()));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for o in sorted {
        // Hashed as the Strings they were before object_store: cached mirrors'
        // markers stay valid across the upgrade.
        (o.key(), o.size, o.etag.as_str()).hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, size: u64, etag: &str) -> Object {
        Object { location: Key::from(key), size, etag: etag.into() }
    }

    #[test]
    fn fingerprints_follow_keys_sizes_and_etags() {
        let a = object("1/model.onnx", 10, "\"a\"");
        let b = object("1/config.json", 2, "\"b\"");
        let base = fingerprint([&a, &b].into_iter());
        assert_eq!(base, fingerprint([&b, &a].into_iter()), "order does not matter");
        let changed = Object { etag: "\"c\"".into(), ..a.clone() };
        assert_ne!(base, fingerprint([&changed, &b].into_iter()));
    }

    #[test]
    fn directory_markers_are_dropped() {
        let objects = vec![
            object("m/1", 0, ""),
            object("m/1/model.onnx", 10, ""),
            object("m/1/variables", 0, ""),
            object("m/1/variables/x", 1, ""),
            object("m/1/empty.txt", 0, ""),
        ];
        let keys: Vec<String> = without_directory_markers(objects, "m/1").iter().map(|o| o.key().to_string()).collect();
        assert_eq!(keys, ["m/1/model.onnx", "m/1/variables/x", "m/1/empty.txt"]);
    }
}
