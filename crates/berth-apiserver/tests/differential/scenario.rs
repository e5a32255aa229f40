//! The requests both servers answer, in order. Each recorded answer is named
//! (`area.what`); later steps read resourceVersions from earlier answers.

use crate::client::{APPLY, Answer, JSON_PATCH, MERGE, STRATEGIC, Server};
use crate::normalize::normalize;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const NS: &str = "diff";
const CM: &str = "/api/v1/namespaces/diff/configmaps";
const DEPLOY: &str = "/apis/apps/v1/namespaces/diff/deployments";
const BM: &str = "/apis/berth.dev/v1alpha1/namespaces/diff/bertmodels";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
/// How long the server keeps a watch open (`timeoutSeconds`).
const WATCH_SECS: u64 = 2;

/// The normalised answers of one server, in request order.
pub type Answers = Vec<(String, Value)>;

/// How to compact the server's history: etcd's compaction API for the real
/// server, `ApiServerHandle::compact` for berth-apiserver.
pub enum Compact<'a> {
    Etcd(&'a str),
    Berth(&'a berth_apiserver::ApiServerHandle),
}

impl Compact<'_> {
    async fn run(&self) {
        match self {
            Compact::Berth(h) => h.compact(),
            Compact::Etcd(url) => {
                let http = reqwest::Client::new();
                let range: Value = http
                    .post(format!("{url}/v3/kv/range"))
                    .json(&json!({"key": "Lw=="}))
                    .send()
                    .await
                    .expect("etcd range")
                    .json()
                    .await
                    .expect("etcd range answer");
                let rev = range["header"]["revision"].as_str().expect("etcd revision").to_string();
                let r = http
                    .post(format!("{url}/v3/kv/compaction"))
                    .json(&json!({"revision": rev, "physical": true}))
                    .send()
                    .await
                    .expect("etcd compaction");
                assert!(r.status().is_success(), "etcd compaction: {}", r.status());
            }
        }
    }
}

struct Rec<'a> {
    s: &'a Server,
    compact: Compact<'a>,
    out: Answers,
}

impl Rec<'_> {
    fn keep(&mut self, name: &str, a: &Answer) {
        self.out.push((name.to_string(), normalize(&a.to_json())));
    }
    /// A derived fact (a resourceVersion changed, a generation) rather than an answer.
    fn fact(&mut self, name: &str, v: Value) {
        self.out.push((name.to_string(), v));
    }
    async fn watch(&mut self, name: &str, path: &str) -> Answer {
        let sep = if path.contains('?') { '&' } else { '?' };
        let full = format!("{path}{sep}watch=true&timeoutSeconds={WATCH_SECS}");
        let a = self.s.watch(&full, Duration::from_secs(WATCH_SECS + 5)).await;
        self.keep(name, &a);
        a
    }
}

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn bm(name: &str) -> Value {
    json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
        "metadata": {"name": name},
        "spec": {"version": "1", "source": {"uri": "file:///models/minilm"}}
    })
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn yaml_file(rel: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub async fn run(s: &Server, compact: Compact<'_>) -> Answers {
    let mut r = Rec { s, compact, out: Vec::new() };
    setup(&mut r).await;
    crud(&mut r).await;
    patches(&mut r).await;
    apply(&mut r).await;
    status(&mut r).await;
    invalid(&mut r).await;
    watches(&mut r).await;
    deletion(&mut r).await;
    r.out
}

async fn setup(r: &mut Rec<'_>) {
    let a =
        r.s.post("/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
            .await;
    r.keep("namespace.create", &a);
    let crd = yaml_file("crds/bertmodels.berth.dev.yaml");
    let a = r.s.post(CRDS, &crd).await;
    assert_eq!(a.code, 201, "CRD create: {}", a.body);
    // Wait until Established and served.
    let start = Instant::now();
    loop {
        let c = r.s.get(&format!("{CRDS}/bertmodels.berth.dev")).await;
        let established = c.body["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
        if established && r.s.get(BM).await.code == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "CRD not established: {}", c.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = r.s.get(&format!("{CRDS}/bertmodels.berth.dev")).await;
    r.fact("crd.status", normalize(&c.body["status"]));
}

async fn crud(r: &mut Rec<'_>) {
    let a = r.s.post(CM, &cm("cm1", json!({"a": "1"}))).await;
    r.keep("configmap.create", &a);
    let rv0 = a.rv();
    let a = r.s.post(CM, &cm("cm1", json!({"a": "1"}))).await;
    r.keep("configmap.create.exists", &a);
    let a = r.s.get(&format!("{CM}/cm1")).await;
    r.keep("configmap.get", &a);
    let a = r.s.get(&format!("{CM}/missing")).await;
    r.keep("configmap.get.missing", &a);
    let a = r.s.get(&format!("{CM}?labelSelector=none%3Dnone")).await;
    r.keep("configmap.list.empty", &a);
    let a = r.s.get(CM).await;
    r.keep("configmap.list", &a);
    let mut obj = cm("cm1", json!({"a": "2"}));
    obj["metadata"]["resourceVersion"] = json!(rv0);
    let a = r.s.put(&format!("{CM}/cm1"), &obj).await;
    r.keep("configmap.update", &a);
    let a = r.s.put(&format!("{CM}/cm1"), &obj).await;
    r.keep("configmap.update.stale", &a);
    let a = r.s.put(&format!("{CM}/missing"), &cm("missing", json!({}))).await;
    r.keep("configmap.update.missing", &a);
    let a = r.s.put(&format!("{CM}/other"), &cm("cm1", json!({}))).await;
    r.keep("configmap.update.name-mismatch", &a);
    let a = r.s.post(&format!("{CM}?dryRun=All"), &cm("dry", json!({}))).await;
    r.keep("configmap.create.dry-run", &a);
    let a = r.s.get(&format!("{CM}/dry")).await;
    r.keep("configmap.get.after-dry-run", &a);
    let a = r.s.post(CM, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})).await;
    r.keep("configmap.create.bad-name", &a);
    let a = r.s.post(BM, &bm("bm1")).await;
    r.keep("bertmodel.create", &a);
    let a = r.s.post(BM, &bm("bm1")).await;
    r.keep("bertmodel.create.exists", &a);
    let a = r.s.get(&format!("{BM}/bm1")).await;
    r.keep("bertmodel.get", &a);
    let a = r.s.get(&format!("{BM}/missing")).await;
    r.keep("bertmodel.get.missing", &a);
    let a = r.s.get(BM).await;
    r.keep("bertmodel.list", &a);
    let mut strict = bm("strict");
    strict["spec"]["unknownField"] = json!(1);
    let a = r.s.post(&format!("{BM}?fieldValidation=Strict"), &strict).await;
    r.keep("bertmodel.create.strict-unknown", &a);
    let a = r.s.post(&format!("{BM}?fieldValidation=Ignore"), &strict).await;
    r.keep("bertmodel.create.ignore-unknown", &a);
}

async fn patches(r: &mut Rec<'_>) {
    let p = format!("{CM}/cm1");
    let a = r.s.patch(&p, MERGE, &json!({"data": {"b": "2"}, "metadata": {"labels": {"l": "x"}}})).await;
    r.keep("configmap.patch.merge", &a);
    let a = r.s.patch(&p, MERGE, &json!({"data": {"b": null}})).await;
    r.keep("configmap.patch.merge.remove", &a);
    let a = r.s.patch(&p, JSON_PATCH, &json!([{"op": "add", "path": "/data/c", "value": "3"}, {"op": "replace", "path": "/data/a", "value": "9"}])).await;
    r.keep("configmap.patch.json", &a);
    let a =
        r.s.patch(
            &p,
            JSON_PATCH,
            &json!([{"op": "test", "path": "/data/a", "value": "nope"}, {"op": "remove", "path": "/data/a"}]),
        )
        .await;
    r.keep("configmap.patch.json.test-fails", &a);
    let a = r.s.patch(&p, JSON_PATCH, &json!([{"op": "remove", "path": "/data/zzz"}])).await;
    r.keep("configmap.patch.json.missing-path", &a);
    let a = r.s.patch(&format!("{CM}/missing"), MERGE, &json!({"data": {"x": "1"}})).await;
    r.keep("configmap.patch.missing", &a);
    let a = r.s.patch(&p, STRATEGIC, &json!({"data": {"d": "4"}})).await;
    r.keep("configmap.patch.strategic", &a);
    let dep = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]}
            ]}}
        }
    });
    let a = r.s.post(DEPLOY, &dep).await;
    r.keep("deployment.create", &a);
    let a =
        r.s.patch(
            &format!("{DEPLOY}/web"),
            STRATEGIC,
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                {"name": "b", "image": "b:1"}
            ]}}}}),
        )
        .await;
    r.keep("deployment.patch.strategic", &a);
    let a =
        r.s.patch(
            &format!("{DEPLOY}/web"),
            STRATEGIC,
            &json!({"spec": {"template": {"spec": {"containers": [
                {"name": "b", "$patch": "delete"}
            ]}}}}),
        )
        .await;
    r.keep("deployment.patch.strategic.delete", &a);
    let a = r.s.patch(&format!("{DEPLOY}/web"), MERGE, &json!({"metadata": {"labels": {"x": "y"}}})).await;
    r.keep("deployment.patch.metadata-only", &a);
    let a = r.s.patch(&format!("{BM}/bm1"), STRATEGIC, &json!({"spec": {"replicas": 2}})).await;
    r.keep("bertmodel.patch.strategic-unsupported", &a);
}

async fn apply(r: &mut Rec<'_>) {
    let p = |q: &str| format!("{CM}/ssa1?{q}");
    let a = r.s.patch(&p("fieldManager=mgr-a"), APPLY, &cm("ssa1", json!({"k": "a", "ka": "a"}))).await;
    r.keep("apply.create", &a);
    let a = r.s.patch(&p("fieldManager=mgr-a"), APPLY, &cm("ssa1", json!({"k": "a", "ka": "a"}))).await;
    r.keep("apply.noop", &a);
    let a = r.s.patch(&p("fieldManager=mgr-b"), APPLY, &cm("ssa1", json!({"k": "b"}))).await;
    r.keep("apply.conflict", &a);
    let a = r.s.patch(&p("fieldManager=mgr-b&force=false"), APPLY, &cm("ssa1", json!({"k": "b", "ka": "b"}))).await;
    r.keep("apply.conflict.two-fields", &a);
    let a = r.s.patch(&p("fieldManager=mgr-b&force=true"), APPLY, &cm("ssa1", json!({"k": "b"}))).await;
    r.keep("apply.force", &a);
    let a = r.s.patch(&p("fieldManager=mgr-c"), MERGE, &json!({"data": {"kc": "c"}})).await;
    r.keep("apply.update-manager", &a);
    let a = r.s.patch(&p("fieldManager=mgr-b"), APPLY, &cm("ssa1", json!({"k": "b", "kc": "b"}))).await;
    r.keep("apply.conflict.with-updater", &a);
    let a = r.s.patch(&p("fieldManager=mgr-a"), APPLY, &cm("ssa1", json!({"ka": "a"}))).await;
    r.keep("apply.drop-field", &a);
    let a = r.s.patch(&p("fieldManager=mgr-b&force=true"), APPLY, &cm("ssa1", json!({"k": "b", "kc": "b"}))).await;
    r.keep("apply.force.take-from-updater", &a);
    let a = r.s.patch(&p(""), APPLY, &cm("ssa1", json!({}))).await;
    r.keep("apply.no-field-manager", &a);
    let a =
        r.s.patch(&p("fieldManager=mgr-a"), APPLY, &json!({"kind": "ConfigMap", "metadata": {"name": "ssa1"}})).await;
    r.keep("apply.no-api-version", &a);
    let a = r.s.patch(&p("fieldManager=mgr-a&force=true"), APPLY, &cm("other", json!({}))).await;
    r.keep("apply.name-mismatch", &a);
    let a =
        r.s.patch(
            &format!("{CM}/ssa1?fieldManager=mgr-a&force=true"),
            JSON_PATCH,
            &json!([{"op": "add", "path": "/data/j", "value": "j"}]),
        )
        .await;
    r.keep("apply.force-on-non-apply", &a);
    // The operator's pattern: apply a custom resource with force.
    let mut m = bm("bm-ssa");
    m["spec"]["replicas"] = json!(2);
    let a = r.s.patch(&format!("{BM}/bm-ssa?fieldManager=berth-operator&force=true"), APPLY, &m).await;
    r.keep("apply.bertmodel.create", &a);
    let a =
        r.s.patch(
            &format!("{BM}/bm-ssa?fieldManager=kubectl"),
            APPLY,
            &json!({
                "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel", "metadata": {"name": "bm-ssa"},
                "spec": {"version": "1", "source": {"uri": "file:///models/minilm"}, "replicas": 3}
            }),
        )
        .await;
    r.keep("apply.bertmodel.conflict", &a);
}

async fn status(r: &mut Rec<'_>) {
    let p = format!("{BM}/bm1");
    let before = r.s.get(&p).await;
    let a =
        r.s.patch(&format!("{p}/status"), MERGE, &json!({"status": {"phase": "Serving", "observedGeneration": 1}}))
            .await;
    r.keep("status.patch", &a);
    r.fact("status.patch.rv-changed", json!(a.rv() != before.rv()));
    let a =
        r.s.patch(
            &format!("{p}/status"),
            MERGE,
            &json!({"spec": {"replicas": 7}, "metadata": {"labels": {"s": "1"}}, "status": {"stableVersion": "1"}}),
        )
        .await;
    r.keep("status.patch.ignores-spec", &a);
    let a = r.s.patch(&p, MERGE, &json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"m": "1"}}})).await;
    r.keep("status.main-patch.ignores-status", &a);
    let a = r.s.patch(&p, MERGE, &json!({"spec": {"replicas": 3}})).await;
    r.keep("status.spec-change.bumps-generation", &a);
    let cur = r.s.get(&p).await;
    let mut obj = cur.body.clone();
    obj["status"]["phase"] = json!("Failed");
    obj["spec"]["replicas"] = json!(4);
    let a = r.s.put(&p, &obj).await;
    r.keep("status.main-put.ignores-status", &a);
    let cur = r.s.get(&p).await;
    let mut obj = cur.body.clone();
    obj["status"]["phase"] = json!("Progressing");
    obj["spec"]["replicas"] = json!(9);
    let a = r.s.put(&format!("{p}/status"), &obj).await;
    r.keep("status.put", &a);
    let a =
        r.s.patch(
            &format!("{p}/status?fieldManager=berth-operator&force=true"),
            APPLY,
            &json!({
                "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel", "metadata": {"name": "bm1"},
                "status": {"phase": "Serving", "canaryWeight": 10}
            }),
        )
        .await;
    r.keep("status.apply", &a);
    let a = r.s.patch(&format!("{BM}/missing/status"), MERGE, &json!({"status": {"phase": "Serving"}})).await;
    r.keep("status.patch.missing", &a);
    let a = r.s.patch(&format!("{p}/status"), MERGE, &json!({"status": {"phase": 5}})).await;
    r.keep("status.patch.invalid", &a);
    let a = r.s.get(&format!("{p}/status")).await;
    r.keep("status.get", &a);
}

async fn invalid(r: &mut Rec<'_>) {
    let dir = repo().join("crates/berth-api/tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("bad manifests").flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let rel = f.strip_prefix(repo()).expect("under repo").display().to_string();
        let a = r.s.post(BM, &yaml_file(&rel)).await;
        r.keep(&format!("invalid.{name}"), &a);
    }
    let a = r.s.patch(&format!("{BM}/bm1"), MERGE, &json!({"spec": {"replicas": -1}})).await;
    r.keep("invalid.patch.negative-replicas", &a);
    let a =
        r.s.patch(
            &format!("{BM}/bm1?fieldManager=x"),
            APPLY,
            &json!({
                "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel", "metadata": {"name": "bm1"},
                "spec": {"rollout": {"steps": [{"weight": 50}, {"weight": 20}]}}
            }),
        )
        .await;
    r.keep("invalid.apply.steps", &a);
}

async fn watches(r: &mut Rec<'_>) {
    let list = r.s.get(CM).await;
    let before = list.body["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
    let a = r.s.post(CM, &cm("w1", json!({"v": "1"}))).await;
    let created = a.rv();
    r.s.patch(&format!("{CM}/w1"), MERGE, &json!({"data": {"v": "2"}})).await;
    r.s.patch(&format!("{CM}/w1"), MERGE, &json!({"metadata": {"labels": {"w": "1"}}})).await;
    r.s.delete(&format!("{CM}/w1"), None).await;
    let sel = "fieldSelector=metadata.name%3Dw1";
    r.watch("watch.from-before-create", &format!("{CM}?{sel}&resourceVersion={before}")).await;
    r.watch("watch.from-create", &format!("{CM}?{sel}&resourceVersion={created}")).await;
    r.watch("watch.bookmarks", &format!("{CM}?{sel}&resourceVersion={created}&allowWatchBookmarks=true")).await;
    r.watch("watch.label-selector", &format!("{CM}?labelSelector=w%3D1&resourceVersion={before}")).await;
    for n in ["i1", "i2"] {
        let mut o = cm(n, json!({}));
        o["metadata"]["labels"] = json!({"init": "yes"});
        r.s.post(CM, &o).await;
    }
    r.watch("watch.send-initial-events", &format!("{CM}?labelSelector=init%3Dyes&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")).await;
    r.watch(
        "watch.send-initial-events.no-bookmarks",
        &format!("{CM}?labelSelector=init%3Dyes&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"),
    )
    .await;
    r.watch("watch.no-rv", &format!("{CM}?labelSelector=init%3Dyes")).await;
    r.watch("watch.rv-0", &format!("{CM}?labelSelector=init%3Dyes&resourceVersion=0")).await;
    // Older than the real server's watch cache for this resource (it starts
    // when the CRD is established); berth-apiserver still has the events.
    r.watch("watch.too-old.bertmodel", &format!("{BM}?resourceVersion=1")).await;
    r.watch("watch.bad-rv", &format!("{CM}?{sel}&resourceVersion=abc")).await;
    let bmrv = r.s.get(&format!("{BM}/bm1")).await.rv();
    r.s.patch(&format!("{BM}/bm1/status"), MERGE, &json!({"status": {"phase": "Degraded"}})).await;
    r.s.patch(&format!("{BM}/bm1"), MERGE, &json!({"spec": {"replicas": 1}})).await;
    r.watch("watch.bertmodel", &format!("{BM}?fieldSelector=metadata.name%3Dbm1&resourceVersion={bmrv}")).await;
    // After compaction, older versions are gone: 410 / an ERROR event with reason Expired.
    r.s.patch(&format!("{CM}/i1"), MERGE, &json!({"data": {"after": "compaction"}})).await;
    r.compact.run().await;
    r.watch("watch.compacted.rv-1", &format!("{CM}?{sel}&resourceVersion=1")).await;
    r.watch("watch.compacted.from-create", &format!("{CM}?{sel}&resourceVersion={created}")).await;
    r.watch("watch.compacted.bertmodel", &format!("{BM}?fieldSelector=metadata.name%3Dbm1&resourceVersion={bmrv}"))
        .await;
}

async fn deletion(r: &mut Rec<'_>) {
    let mut o = cm("fin1", json!({}));
    o["metadata"]["finalizers"] = json!(["berth.dev/test"]);
    r.s.post(CM, &o).await;
    let a = r.s.delete(&format!("{CM}/fin1"), None).await;
    r.keep("delete.with-finalizer", &a);
    let a = r.s.get(&format!("{CM}/fin1")).await;
    r.keep("delete.with-finalizer.get", &a);
    let a = r.s.patch(&format!("{CM}/fin1"), MERGE, &json!({"data": {"late": "x"}})).await;
    r.keep("delete.with-finalizer.patch", &a);
    let a = r.s.patch(&format!("{CM}/fin1"), MERGE, &json!({"metadata": {"finalizers": null}})).await;
    r.keep("delete.remove-finalizer", &a);
    let a = r.s.get(&format!("{CM}/fin1")).await;
    r.keep("delete.remove-finalizer.get", &a);
    let a = r
        .s
        .delete(&format!("{CM}/cm1"), Some(&json!({"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})))
        .await;
    r.keep("delete.precondition-uid", &a);
    let a = r.s.delete(&format!("{CM}/cm1"), None).await;
    r.keep("delete.configmap", &a);
    let a = r.s.delete(&format!("{CM}/cm1"), None).await;
    r.keep("delete.configmap.missing", &a);
    let a = r.s.delete(&format!("{BM}/bm-ssa"), None).await;
    r.keep("delete.bertmodel", &a);
    let a = r.s.delete(&format!("{CM}?labelSelector=init%3Dyes"), None).await;
    r.keep("delete.collection", &a);
    let a = r.s.get(&format!("{CM}?labelSelector=init%3Dyes")).await;
    r.keep("delete.collection.list", &a);
}
