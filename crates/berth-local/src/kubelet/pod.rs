//! The pod worker: sets a pod up (address, directories, volumes), runs its
//! containers, keeps `status` current, and on deletion stops the containers
//! gracefully, deletes the object and cleans up.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::container;
use super::ctx::PodCtx;
use super::env::Sources;
use super::state::{CState, ContainerRuntime, PodRuntime, Shared};
use super::status::{is_ready, pod_status};
use super::volumes::{self, VolumeContext};
use super::{KubeletShared, LOG_PATH_ANNOTATION_PREFIX};
use crate::error::{Error, Result};

/// What the kubelet tells a worker: the latest object, or `None` once the
/// object is gone from the API.
pub type PodRx = watch::Receiver<Option<Pod>>;

pub async fn run(k: Arc<KubeletShared>, pod: Pod, updates: PodRx, shutdown: watch::Receiver<bool>) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    if let Err(e) = run_inner(&k, pod, updates, shutdown).await {
        tracing::warn!(pod = %name, namespace = %ns, error = %e, category = e.category(), "pod worker failed");
    }
}

async fn run_inner(
    k: &Arc<KubeletShared>,
    pod: Pod,
    mut updates: PodRx,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(k.client.clone(), &ns);
    let pod_dir = k.state_dir.join("pods").join(format!("{ns}_{name}_{uid}"));
    let ip = k.pod_ips().allocate()?;
    let pod_ip = ip.to_string();
    let mut netns = None;
    let result = async {
        prepare_dirs(k, &pod, &pod_dir)?;
        annotate_log_paths(&api, &pod, &pod_dir).await;
        let shared = Shared::new(runtime(&pod, &pod_ip));
        let mut writer = StatusWriter::new(api.clone(), name.clone(), uid.clone());
        writer.write(&shared).await;
        if let Some(net) = &k.network {
            match net.add_pod(ip).await {
                Ok(n) => netns = Some(n),
                Err(e) => {
                    // Shown on the pod, as a real kubelet's sandbox failure is.
                    let msg = format!("creating the pod network namespace: {e}");
                    {
                        let mut g = shared.lock();
                        g.setup_error = Some(("ContainersNotReady".into(), msg.clone()));
                        for c in g.containers.iter_mut() {
                            c.state =
                                CState::Waiting { reason: "ContainerCreating".into(), message: Some(msg.clone()) };
                        }
                    }
                    writer.write(&shared).await;
                    // The next pod event starts a new worker: retry, but not in a tight loop.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    return Err(e.into());
                }
            }
        }
        let Some(volume_dirs) =
            setup_volumes(k, &pod, &pod_ip, &pod_dir, &shared, &mut writer, &mut updates, &mut shutdown).await
        else {
            return Ok(());
        };
        let ctx = Arc::new(PodCtx {
            client: k.client.clone(),
            pod: pod.clone(),
            pod_dir: pod_dir.clone(),
            pod_ip: pod_ip.clone(),
            netns: netns.clone(),
            node_name: k.node_name.clone(),
            shared: shared.clone(),
            images: k.images.clone(),
            volume_dirs,
            mount_namespaces: k.mount_namespaces,
            backoff: k.backoff,
            base_env: base_env(k, &pod, &pod_ip, &pod_dir),
            http: k.http.clone(),
            created_mount_points: k.created_mount_points.clone(),
        });
        let (stop_tx, stop_rx) = watch::channel::<Option<Instant>>(None);
        let mut runner = tokio::spawn(run_containers(ctx.clone(), stop_rx));
        let mut runner_done = false;
        let mut updates_open = true;
        // `send_replace`, not `send`: once every container task has ended
        // there are no receivers, and `send` would drop the value.
        let mut delete_object = false;
        loop {
            if *shutdown.borrow() && stop_tx.borrow().is_none() {
                // berth-local is stopping: stop processes, leave objects.
                let grace = ctx.grace_seconds().min(10) as u64;
                stop_tx.send_replace(Some(Instant::now() + Duration::from_secs(grace)));
                writer.disabled = true;
            }
            let latest = updates.borrow().clone();
            if stop_tx.borrow().is_none() {
                let deleting = match &latest {
                    None => Some(ctx.grace_seconds()),
                    Some(p) if p.metadata.deletion_timestamp.is_some() => {
                        Some(p.metadata.deletion_grace_period_seconds.unwrap_or_else(|| ctx.grace_seconds()))
                    }
                    _ => None,
                };
                if let Some(grace) = deleting {
                    delete_object = latest.is_some();
                    let deadline = Instant::now() + Duration::from_secs(grace.max(0) as u64);
                    stop_tx.send_replace(Some(deadline));
                }
            }
            if runner_done && stop_tx.borrow().is_some() {
                break;
            }
            tokio::select! {
                _ = shared.changed.notified() => writer.write(&shared).await,
                r = updates.changed(), if updates_open => if r.is_err() {
                    updates_open = false;
                    stop_tx.send_replace(Some(Instant::now()));
                },
                _ = shutdown.changed() => {},
                // A failed write is retried here even when nothing changes.
                _ = tokio::time::sleep(Duration::from_secs(5)) => writer.write(&shared).await,
                _ = &mut runner, if !runner_done => {
                    runner_done = true;
                    writer.write(&shared).await;
                }
            }
        }
        writer.write(&shared).await;
        if delete_object && !writer.disabled {
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                ..Default::default()
            };
            match api.delete(&name, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => tracing::warn!(pod = %name, error = %e, "deleting terminated pod"),
            }
        }
        Ok(())
    }
    .await;
    if let (Some(net), Some(n)) = (&k.network, &netns) {
        net.remove_pod(n).await;
    }
    k.pod_ips().release(ip);
    // Logs stay (so `kubectl logs` keeps working until the state dir goes);
    // volume contents go, like a real node's.
    let _ = std::fs::remove_dir_all(pod_dir.join("volumes"));
    result
}

fn runtime(pod: &Pod, pod_ip: &str) -> PodRuntime {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut containers = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        containers.push(ContainerRuntime::new(&c.name, c.image.as_deref().unwrap_or(""), true));
    }
    for c in &spec.containers {
        containers.push(ContainerRuntime::new(&c.name, c.image.as_deref().unwrap_or(""), false));
    }
    PodRuntime {
        pod_ip: pod_ip.to_string(),
        start_time: Timestamp::now(),
        containers,
        setup_error: None,
        ready_since: None,
    }
}

fn prepare_dirs(k: &KubeletShared, pod: &Pod, pod_dir: &std::path::Path) -> Result<()> {
    volumes::mkdir(&pod_dir.join("logs"))?;
    let sa_dir = pod_dir.join("serviceaccount");
    volumes::mkdir(&sa_dir)?;
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let sa = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
    let write = |name: &str, data: &str| {
        let p = sa_dir.join(name);
        std::fs::write(&p, data).map_err(|e| Error::io(format!("write {}", p.display()), e))
    };
    write("token", &volumes::service_account_token(&ns, &sa))?;
    write("ca.crt", volumes::PLACEHOLDER_CA)?;
    write("namespace", &ns)?;
    let kc = pod_dir.join("kubeconfig");
    std::fs::write(&kc, &k.pod_kubeconfig).map_err(|e| Error::io(format!("write {}", kc.display()), e))
}

/// Records where each container's first log will be, so the API server can
/// serve `pods/log` from the file from the start.
async fn annotate_log_paths(api: &Api<Pod>, pod: &Pod, pod_dir: &std::path::Path) {
    let mut ann = serde_json::Map::new();
    let spec = pod.spec.clone().unwrap_or_default();
    for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
        let path = super::ctx::log_path(pod_dir, &c.name, 0);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        ann.insert(
            format!("{LOG_PATH_ANNOTATION_PREFIX}{}", c.name),
            Value::String(path.to_string_lossy().into_owned()),
        );
    }
    let patch = json!({"metadata": {"annotations": ann}});
    let name = pod.metadata.name.clone().unwrap_or_default();
    if let Err(e) = api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!(pod = %name, error = %e, "annotating log paths");
    }
}

fn base_env(k: &KubeletShared, pod: &Pod, pod_ip: &str, pod_dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("HOSTNAME".into(), pod.metadata.name.clone().unwrap_or_default());
    env.insert("BERTH_POD_IP".into(), pod_ip.to_string());
    if k.network.is_none() {
        // Pods share the host network: servers must bind their own address
        // (berth-serve reads this). In a namespace they bind 0.0.0.0.
        env.insert("BERTH_BIND_ADDRESS".into(), pod_ip.to_string());
    }
    // Lets `berth local down` find every process of this cluster, forks too.
    env.insert(super::STATE_DIR_ENV.into(), k.state_dir.to_string_lossy().into_owned());
    env.insert("KUBECONFIG".into(), pod_dir.join("kubeconfig").to_string_lossy().into_owned());
    if let Some(url) = k.api_url.strip_prefix("http://") {
        // Not KUBERNETES_SERVICE_HOST/PORT: in-cluster config implies HTTPS,
        // which the local API server does not speak. Clients use KUBECONFIG.
        env.insert("BERTH_API_SERVER".into(), url.to_string());
    }
    env
}

#[allow(clippy::too_many_arguments)]
async fn setup_volumes(
    k: &KubeletShared,
    pod: &Pod,
    pod_ip: &str,
    pod_dir: &std::path::Path,
    shared: &Shared,
    writer: &mut StatusWriter,
    updates: &mut PodRx,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<BTreeMap<String, PathBuf>> {
    loop {
        let mut sources = Sources::new(k.client.clone(), pod.metadata.namespace.as_deref().unwrap_or(""));
        let vctx = VolumeContext { pod, pod_ip, node_name: &k.node_name, pod_dir };
        match volumes::materialise(&vctx, &mut sources).await {
            Ok(v) => {
                shared.lock().setup_error = None;
                return Some(v);
            }
            Err(e) => {
                let msg = e.to_string();
                {
                    let mut g = shared.lock();
                    g.setup_error = Some(("ContainersNotReady".into(), msg.clone()));
                    for c in g.containers.iter_mut() {
                        c.state =
                            CState::Waiting { reason: "CreateContainerConfigError".into(), message: Some(msg.clone()) };
                    }
                }
                writer.write(shared).await;
            }
        }
        // Retry (a missing ConfigMap may appear), unless the pod goes away.
        let gone = |u: &PodRx| match &*u.borrow() {
            None => true,
            Some(p) => p.metadata.deletion_timestamp.is_some(),
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = updates.changed() => {}
            _ = shutdown.changed() => return None,
        }
        if gone(updates) || *shutdown.borrow() {
            return None;
        }
    }
}

/// Init containers one by one (each must succeed), then all others at once.
async fn run_containers(ctx: Arc<PodCtx>, stop: watch::Receiver<Option<Instant>>) {
    let spec = ctx.pod.spec.clone().unwrap_or_default();
    let mut idx = 0;
    for c in spec.init_containers.iter().flatten() {
        container::run(ctx.clone(), idx, c.clone(), stop.clone()).await;
        let ok = matches!(ctx.shared.container(idx).map(|c| c.state), Some(CState::Terminated(t)) if t.exit_code == 0);
        if !ok {
            // The pod failed; regular containers never start.
            for i in idx + 1..ctx.shared.lock().containers.len() {
                ctx.shared.update(i, |c| c.done = true);
            }
            return;
        }
        idx += 1;
    }
    let mut tasks = Vec::new();
    for c in &spec.containers {
        tasks.push(tokio::spawn(container::run(ctx.clone(), idx, c.clone(), stop.clone())));
        idx += 1;
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Writes `status` when it changed since the last write.
struct StatusWriter {
    api: Api<Pod>,
    name: String,
    uid: String,
    last: Option<Value>,
    disabled: bool,
}

impl StatusWriter {
    fn new(api: Api<Pod>, name: String, uid: String) -> Self {
        StatusWriter { api, name, uid, last: None, disabled: false }
    }

    async fn write(&mut self, shared: &Shared) {
        if self.disabled {
            return;
        }
        let status = {
            let mut g = shared.lock();
            let ready = is_ready(&g);
            if g.ready_since.map(|(r, _)| r) != Some(ready) {
                g.ready_since = Some((ready, Timestamp::now()));
            }
            pod_status(&g, &self.uid)
        };
        let Ok(v) = serde_json::to_value(&status) else { return };
        if self.last.as_ref() == Some(&v) {
            return;
        }
        let patch = json!({ "status": v });
        match self.api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => self.last = Some(v),
            Err(kube::Error::Api(s)) if s.code == 404 => self.disabled = true,
            Err(e) => {
                tracing::warn!(pod = %self.name, error = %e, "writing pod status");
                // Try again on the next change rather than spinning.
            }
        }
    }
}
