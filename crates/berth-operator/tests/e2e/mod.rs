//! The end-to-end harness: a berth-local cluster whose "image" is the real berth-serve
//! binary, the operator's controller running in the test process, and a load
//! generator that sends real requests to the ready serving pods the way a Service
//! would, counting every answer by the version that gave it.

pub mod load;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api::{BertModel, BertModelStatus};
use berth_local::cluster::{ClusterConfig, LocalCluster};
use berth_local::images::{ImageMap, ImageRule};
use berth_local::kubelet::Backoff;
use berth_operator::build::BuildConfig;
use berth_operator::controller::{self, Context, Metrics};
use futures::FutureExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::watch;

pub const MODEL: &str = "tiny";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn models_dir() -> PathBuf {
    root().join(".cache/models")
}

/// The "image": berth-serve with the ONNX Runtime library a real image would bake in,
/// listening on the pod's own loopback address.
fn serve_wrapper(dir: &Path, serve_args: &str) -> PathBuf {
    let root = root();
    let script = dir.join("berth-serve-image");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport ORT_DYLIB_PATH={ort}\nexec {bin} --host \"$BERTH_POD_IP\" {serve_args} \"$@\"\n",
            ort = root.join(".cache/ort/libonnxruntime.so").display(),
            bin = root.join("target/debug/berth-serve").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A model repository in a temporary directory; versions are added by the tests.
pub struct Repo {
    pub path: PathBuf,
}

impl Repo {
    /// `version` is the directory `source` (a link, so nothing is copied).
    pub fn link(&self, version: &str, source: &Path) {
        assert!(source.is_dir(), "{} is missing: run `make models operator-fault-models`", source.display());
        std::os::unix::fs::symlink(source, self.path.join(version)).unwrap();
    }

    /// `version` is a copy of `source` whose files `change` may then alter.
    pub fn copy(&self, version: &str, source: &Path) -> PathBuf {
        let dir = self.path.join(version);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    }
}

/// An S3 bucket (moto's server, started by `e2e/s3_store.py` from the project's venv)
/// holding versions of the tiny model under `tiny/{N}/`; stopped when dropped.
pub struct S3Store {
    child: std::process::Child,
    pub endpoint: String,
}

impl S3Store {
    pub fn start(versions: &[(&str, &Path)]) -> S3Store {
        use std::io::BufRead;
        let python = root().join(".cache/venv/bin/python");
        assert!(python.exists(), "run `make venv` (moto and boto3 come with it)");
        let mut child = std::process::Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/s3_store.py"))
            .arg(MODEL)
            .args(versions.iter().map(|(v, dir)| format!("{v}={}", dir.display())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("http://"), "s3_store.py did not start: {line:?}");
        S3Store { child, endpoint: line.trim().to_string() }
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Closing stdin ends the script; kill it should that not be enough.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One cluster with the operator running against it.
pub struct Harness {
    pub work: tempfile::TempDir,
    pub repo: Repo,
    pub cluster: LocalCluster,
    pub client: kube::Client,
    pub api: Api<BertModel>,
    pub metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    operator: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// Pods skip the warm-up over every sequence length: the tiny models need none.
    pub async fn start() -> Harness {
        Self::start_with("--warmup=false").await
    }

    /// `serve_args` go to every berth-serve the pods run.
    pub async fn start_with(serve_args: &str) -> Harness {
        let root = root();
        assert!(models_dir().join("tiny/1/model.onnx").exists(), "run `make models` first");
        assert!(root.join("target/debug/berth-serve").exists(), "build berth-serve first");
        let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let wrapper = serve_wrapper(work.path(), serve_args);
        let repo = Repo { path: work.path().join("repo") };
        std::fs::create_dir_all(&repo.path).unwrap();
        let cluster = LocalCluster::start(ClusterConfig {
            state_dir: work.path().join("cluster"),
            port: 0,
            images: ImageMap::new(vec![ImageRule { pattern: "berth-serve".into(), binary: wrapper }]),
            backoff: Backoff { base: Duration::from_secs(1), max: Duration::from_secs(5) },
            mount_namespaces: None,
            persist: false,
        })
        .await
        .unwrap();
        let client = cluster.client.clone();
        Api::<CustomResourceDefinition>::all(client.clone())
            .create(&PostParams::default(), &berth_api::crd::crd())
            .await
            .unwrap();
        let metrics = Arc::new(Metrics::new().unwrap());
        let (stop, operator) = start_operator(&client, &metrics);
        let api = Api::namespaced(client.clone(), "default");
        Harness { work, repo, cluster, client, api, metrics, stop, operator }
    }

    /// Stops the operator (as a rolling update of its Deployment would) and starts a
    /// new one that knows only what the API server holds.
    pub async fn restart_operator(&mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.operator).await;
        (self.stop, self.operator) = start_operator(&self.client, &self.metrics);
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.operator).await;
        self.cluster.shutdown().await.unwrap();
        drop(self.work);
    }

    /// The BertModel `tiny` serving `version` from the repository, with `rollout`.
    pub fn manifest(&self, version: &str, replicas: i32, rollout: Value) -> BertModel {
        serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
            "metadata": {"name": MODEL, "namespace": "default"},
            "spec": {
                "version": version,
                "source": {"uri": format!("file://{}", self.repo.path.display())},
                "replicas": replicas,
                "resources": {"requests": {"cpu": "100m"}},
                "rollout": rollout,
            }
        }))
        .unwrap()
    }

    pub async fn apply(&self, model: &BertModel) -> BertModel {
        self.api.patch(MODEL, &PatchParams::apply("e2e").force(), &Patch::Apply(model)).await.unwrap()
    }

    pub async fn merge(&self, patch: Value) {
        self.api.patch(MODEL, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// Applies `model` and waits until it is Ready on its version.
    pub async fn create_ready(&self, model: &BertModel) -> BertModelStatus {
        let t0 = Instant::now();
        self.apply(model).await;
        let version = model.spec.version.clone();
        let status = self
            .wait("Ready", Duration::from_secs(120), |s| {
                berth_api::conditions::is_true(&s.conditions, "Ready")
                    && s.stable_version.as_deref() == Some(version.as_str())
                    && s.ready_replicas == model.spec.replicas
            })
            .await;
        eprintln!("create -> Ready: {:.1}s ({} ready pods)", t0.elapsed().as_secs_f64(), status.ready_replicas);
        status
    }

    pub async fn wait(&self, what: &str, within: Duration, done: impl Fn(&BertModelStatus) -> bool) -> BertModelStatus {
        self.watch(what, within, |_| {}, done).await
    }

    /// Polls the status every 100 ms, showing each to `seen`, until `done`.
    pub async fn watch(
        &self,
        what: &str,
        within: Duration,
        mut seen: impl FnMut(&BertModelStatus),
        done: impl Fn(&BertModelStatus) -> bool,
    ) -> BertModelStatus {
        let start = Instant::now();
        let mut last = None;
        loop {
            if let Some(status) = self.api.get(MODEL).await.ok().and_then(|m| m.status) {
                seen(&status);
                if done(&status) {
                    return status;
                }
                last = Some(status);
            }
            assert!(start.elapsed() < within, "timed out waiting for {what}; last status: {last:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The model's serving pods that are not being deleted.
    pub async fn pods(&self) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let list = pods.list(&ListParams::default().labels(&format!("berth.dev/model={MODEL}"))).await.unwrap();
        list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect()
    }
}

/// The controller in this process, as `berth-operator run` would run it.
fn start_operator(client: &kube::Client, metrics: &Arc<Metrics>) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let ctx = Arc::new(Context::new(
        client.clone(),
        BuildConfig { serve_image: "ghcr.io/berth-dev/berth-serve:test".into() },
        Arc::clone(metrics),
        None,
    ));
    let (stop, mut rx) = watch::channel(false);
    let shutdown = async move {
        let _ = rx.wait_for(|s| *s).await;
    }
    .boxed()
    .shared();
    (stop, tokio::spawn(controller::run(ctx, vec!["default".into()], shutdown)))
}
