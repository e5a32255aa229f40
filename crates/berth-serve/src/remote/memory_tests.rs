//! The version mirror against object_store's in-memory store: the same code the
//! S3, GCS and Azure clients run behind, with no network.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions,
    PutPayload, PutResult,
};

use super::RemoteStore;
use super::mirror::mirror;

async fn put(store: &dyn ObjectStore, key: &str, body: &str) {
    store.put(&Key::from(key), PutPayload::from(body.to_string())).await.unwrap();
}

async fn bucket() -> Arc<InMemory> {
    let store = Arc::new(InMemory::new());
    put(store.as_ref(), "nlp/tiny/1/model.onnx", "weights-1").await;
    put(store.as_ref(), "nlp/tiny/1/variables/index", "vars").await;
    put(store.as_ref(), "nlp/tiny/2/model.onnx", "weights-2").await;
    // Not a version directory, and not under the prefix.
    put(store.as_ref(), "nlp/tiny/README", "hi").await;
    put(store.as_ref(), "nlp/other/7/model.onnx", "x").await;
    store
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn lists_versions_and_mirrors_one_atomically() {
    let memory = bucket().await;
    let store = RemoteStore::new("mem://b/nlp/tiny/", memory.clone(), "/nlp/tiny/");
    let versions = store.versions().await.unwrap();
    assert_eq!(versions.keys().collect::<Vec<_>>(), ["1", "2"]);

    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("1");
    assert_eq!(mirror(&store, "1", &dir).await.unwrap(), 13);
    assert_eq!((read(&dir, "model.onnx").as_str(), read(&dir, "variables/index").as_str()), ("weights-1", "vars"));
    // Same objects: reused, nothing downloaded, no staging left beside it.
    assert_eq!(mirror(&store, "1", &dir).await.unwrap(), 0);
    assert_eq!(names(cache.path()), ["1"]);

    // A changed object changes the fingerprint: the copy is replaced whole.
    put(memory.as_ref(), "nlp/tiny/1/model.onnx", "weights-1b").await;
    assert_ne!(store.versions().await.unwrap()["1"], versions["1"]);
    assert_eq!(mirror(&store, "1", &dir).await.unwrap(), 14);
    assert_eq!(read(&dir, "model.onnx"), "weights-1b");
    assert_eq!(names(cache.path()), ["1"]);
}

#[tokio::test]
async fn an_empty_version_is_missing_and_leaves_nothing() {
    let store = RemoteStore::new("mem://b/nlp/tiny", bucket().await, "nlp/tiny");
    let cache = tempfile::tempdir().unwrap();
    let err = mirror(&store, "5", &cache.path().join("5")).await.unwrap_err();
    assert_eq!(err.category(), "fetch-missing", "{err}");
    assert!(err.to_string().contains("mem://b/nlp/tiny/5/"), "{err}");
    assert!(names(cache.path()).is_empty());
}

#[tokio::test]
async fn a_version_at_the_bucket_root() {
    let memory = Arc::new(InMemory::new());
    put(memory.as_ref(), "3/model.onnx", "w").await;
    let store = RemoteStore::new("mem://b", memory, "");
    assert_eq!(store.versions().await.unwrap().keys().collect::<Vec<_>>(), ["3"]);
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(mirror(&store, "3", &cache.path().join("3")).await.unwrap(), 1);
}

#[tokio::test]
async fn an_unsafe_key_fails_the_listing_and_the_version() {
    let store = RemoteStore::new("mem://b/nlp/tiny", Arc::new(UnsafeListing(bucket().await)), "nlp/tiny");
    assert_eq!(store.versions().await.unwrap_err().category(), "fetch-unsafe");
    let cache = tempfile::tempdir().unwrap();
    let err = mirror(&store, "1", &cache.path().join("1")).await.unwrap_err();
    assert_eq!(err.category(), "fetch-unsafe", "{err}");
    assert!(names(cache.path()).is_empty());
}

/// A store whose listing holds the key `nlp/tiny/1/../../etc/passwd`: a real
/// S3 listing can, and object_store refuses to parse it (the in-memory store
/// cannot even hold it).
#[derive(Debug)]
struct UnsafeListing(Arc<InMemory>);

impl std::fmt::Display for UnsafeListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsafeListing")
    }
}

/// object_store's trait is written with `async_trait`; spelled out here as that
/// macro expands it, as the crate has no dependency on the macro.
type Fut<'a, T> = Pin<Box<dyn Future<Output = object_store::Result<T>> + Send + 'a>>;

impl ObjectStore for UnsafeListing {
    fn put_opts<'s, 'l, 'f>(&'s self, l: &'l Key, p: PutPayload, o: PutOptions) -> Fut<'f, PutResult>
    where
        's: 'f,
        'l: 'f,
        Self: 'f,
    {
        self.0.put_opts(l, p, o)
    }
    fn put_multipart_opts<'s, 'l, 'f>(&'s self, l: &'l Key, o: PutMultipartOptions) -> Fut<'f, Box<dyn MultipartUpload>>
    where
        's: 'f,
        'l: 'f,
        Self: 'f,
    {
        self.0.put_multipart_opts(l, o)
    }
    fn get_opts<'s, 'l, 'f>(&'s self, l: &'l Key, o: GetOptions) -> Fut<'f, GetResult>
    where
        's: 'f,
        'l: 'f,
        Self: 'f,
    {
        self.0.get_opts(l, o)
    }
    fn delete<'s, 'l, 'f>(&'s self, l: &'l Key) -> Fut<'f, ()>
    where
        's: 'f,
        'l: 'f,
        Self: 'f,
    {
        self.0.delete(l)
    }
    fn list(&self, prefix: Option<&Key>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let bad = Key::parse("nlp/tiny/1/../../etc/passwd").map(|_| unreachable!()).map_err(Into::into);
        self.0.list(prefix).chain(futures::stream::iter([bad])).boxed()
    }
    fn list_with_delimiter<'s, 'l, 'f>(&'s self, prefix: Option<&'l Key>) -> Fut<'f, ListResult>
    where
        's: 'f,
        'l: 'f,
        Self: 'f,
    {
        self.0.list_with_delimiter(prefix)
    }
    fn copy<'s, 'a, 'b, 'f>(&'s self, from: &'a Key, to: &'b Key) -> Fut<'f, ()>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.0.copy(from, to)
    }
    fn copy_if_not_exists<'s, 'a, 'b, 'f>(&'s self, from: &'a Key, to: &'b Key) -> Fut<'f, ()>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.0.copy_if_not_exists(from, to)
    }
}
