//! One container's life: resolve image and env, start the process, probe it,
//! restart it with back-off as the restart policy says, and stop it
//! gracefully (preStop, SIGTERM, grace period, SIGKILL) when asked.
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::ctx::PodCtx;
use super::env::{EnvContext, Sources, container_env};
use super::probe::{self, ProbeResult};
use super::process::{self, Spawn};
use super::state::{CState, Terminated};
use super::{memory, mounts};
use crate::error::{Error, Result};

/// The stop signal: `Some(deadline)` asks the container to terminate, with
/// SIGKILL at the deadline.
pub type StopRx = watch::Receiver<Option<Instant>>;

enum Outcome {
    Exited(Terminated),
    Stopped(Terminated),
}

/// Runs the container until it is done for good. For init containers the
/// pod's `Always` policy acts as `OnFailure`.
pub async fn run(ctx: Arc<PodCtx>, idx: usize, spec: Container, mut stop: StopRx) {
    let init = ctx.shared.container(idx).map(|c| c.init).unwrap_or(false);
    let mut policy = ctx.restart_policy();
    if init && policy == "Always" {
        policy = "OnFailure".into();
    }
    let mut crashes: u32 = 0;
    let mut pull_failures: u32 = 0;
    loop {
        if stop.borrow().is_some() {
            finish_without_running(&ctx, idx);
            return;
        }
        let attempt = start(&ctx, &spec).await;
        let (child, env) = match attempt {
            Ok(ok) => ok,
            Err(StartError { reason, message }) => {
                // Kubernetes shows ErrImagePull first, then ImagePullBackOff
                // while it waits to retry; config errors keep their reason.
                pull_failures += 1;
                let shown =
                    if reason == "ErrImagePull" && pull_failures > 1 { "ImagePullBackOff".to_string() } else { reason };
                ctx.shared.update(idx, |c| c.state = CState::Waiting { reason: shown, message: Some(message) });
                let delay = ctx.backoff.delay(pull_failures + 1).max(Duration::from_millis(500));
                if wait_or_stop(delay, &mut stop).await {
                    finish_without_running(&ctx, idx);
                    return;
                }
                continue;
            }
        };
        pull_failures = 0;
        let started_at = Timestamp::now();
        let began = Instant::now();
        ctx.shared.update(idx, |c| {
            c.state = CState::Running { started_at };
            c.ever_ran = true;
            c.pid = child.id();
            c.ready = false;
            c.started = false;
        });
        let outcome = monitor(&ctx, idx, &spec, child, &env, started_at, &mut stop).await;
        let (term, stopped) = match outcome {
            Outcome::Exited(t) => (t, false),
            Outcome::Stopped(t) => (t, true),
        };
        let restart = !stopped
            && match policy.as_str() {
                "Always" => true,
                "OnFailure" => term.exit_code != 0,
                _ => false,
            };
        if !restart {
            ctx.shared.update(idx, |c| {
                c.state = CState::Terminated(term);
                c.pid = None;
                c.ready = false;
                c.done = true;
            });
            return;
        }
        crashes = if began.elapsed() >= ctx.backoff.reset_after() { 1 } else { crashes + 1 };
        let delay = ctx.backoff.delay(crashes);
        let pod_name = format!("{}_{}", ctx.name(), ctx.namespace());
        ctx.shared.update(idx, |c| {
            c.last_terminated = Some(term);
            c.pid = None;
            c.ready = false;
            c.started = false;
            c.state = CState::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(format!(
                    "back-off {}s restarting failed container={} pod={pod_name}",
                    delay.as_secs(),
                    spec.name
                )),
            };
        });
        if wait_or_stop(delay, &mut stop).await {
            ctx.shared.update(idx, |c| {
                c.done = true;
                if let Some(t) = c.last_terminated.clone() {
                    c.state = CState::Terminated(t);
                }
            });
            return;
        }
        ctx.shared.update(idx, |c| c.restart_count += 1);
    }
}

fn finish_without_running(ctx: &PodCtx, idx: usize) {
    ctx.shared.update(idx, |c| {
        c.done = true;
        c.ready = false;
    });
}

/// Sleeps `d` unless asked to stop first; true when asked to stop.
async fn wait_or_stop(d: Duration, stop: &mut StopRx) -> bool {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        if stop.borrow().is_some() {
            return true;
        }
        tokio::select! {
            _ = &mut sleep => return false,
            r = stop.changed() => if r.is_err() { return true },
        }
    }
}

struct StartError {
    reason: String,
    message: String,
}

async fn start(
    ctx: &PodCtx,
    spec: &Container,
) -> Result<(Child, std::collections::BTreeMap<String, String>), StartError> {
    let image = spec.image.clone().unwrap_or_default();
    let Some(resolved) = ctx.images.image(&image) else {
        return Err(StartError { reason: "ErrImagePull".into(), message: Error::ImageNotMapped { image }.to_string() });
    };
    if let Some(why) = &resolved.config.unavailable {
        return Err(StartError { reason: "ErrImagePull".into(), message: format!("image {image:?}: {why}") });
    }
    let binary = resolved.binary.clone();
    let image_cfg = resolved.config.clone();
    let cfg_err = |e: Error| StartError { reason: "CreateContainerConfigError".into(), message: e.to_string() };
    let mut sources = Sources::new(ctx.client.clone(), &ctx.namespace());
    let env_ctx =
        EnvContext { pod: &ctx.pod, pod_ip: &ctx.pod_ip, node_name: &ctx.node_name, base: ctx.base_env.clone() };
    // The image's ENV are defaults under everything the pod sets.
    let mut env: std::collections::BTreeMap<String, String> = image_cfg.env.iter().cloned().collect();
    env.extend(container_env(&env_ctx, spec, &mut sources).await.map_err(cfg_err)?);
    let argv = process::argv(&binary, &image_cfg.args, spec.command.as_deref(), spec.args.as_deref(), &env);
    let mounts = mounts::plan(&ctx.pod, spec, &ctx.volume_dirs, &ctx.service_account_dir()).map_err(cfg_err)?;
    let use_ns = ctx.mount_namespaces;
    if use_ns {
        let created = mounts::create_mount_points(&mounts);
        if let Ok(mut g) = ctx.created_mount_points.lock() {
            g.extend(created);
        }
    } else {
        // Without mount namespaces the paths cannot appear where the spec
        // says; tell the process where each mount really is instead.
        for m in &mounts {
            let key = format!(
                "BERTH_MOUNT_{}",
                m.target
                    .to_string_lossy()
                    .trim_matches('/')
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                    .to_ascii_uppercase()
            );
            env.insert(key, m.source.to_string_lossy().into_owned());
        }
    }
    let wd = process::working_dir(spec.working_dir.as_deref(), &ctx.pod_dir);
    let run = ctx.shared.container_restart_count(&spec.name);
    let log = ctx.log_path(&spec.name, run);
    if let Some(parent) = log.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if run > 0 {
        annotate_run_logs(ctx, &spec.name, run).await;
    }
    let child = process::spawn(&Spawn {
        argv: &argv,
        env: &env,
        working_dir: &wd,
        log_file: &log,
        mounts: use_ns.then_some(mounts.as_slice()),
        netns: ctx.netns.as_ref(),
    })
    .map_err(|e| StartError { reason: "RunContainerError".into(), message: e.to_string() })?;
    Ok((child, env))
}

/// Points the log annotations at this run's file and the one before it.
async fn annotate_run_logs(ctx: &PodCtx, container: &str, run: i32) {
    use super::{LOG_PATH_ANNOTATION_PREFIX, PREVIOUS_LOG_PATH_ANNOTATION_PREFIX};
    let path = |n: i32| ctx.log_path(container, n).to_string_lossy().into_owned();
    let patch = serde_json::json!({"metadata": {"annotations": {
        format!("{LOG_PATH_ANNOTATION_PREFIX}{container}"): path(run),
        format!("{PREVIOUS_LOG_PATH_ANNOTATION_PREFIX}{container}"): path(run - 1),
    }}});
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(ctx.client.clone(), &ctx.namespace());
    let pp = kube::api::PatchParams::default();
    if let Err(e) = api.patch(&ctx.name(), &pp, &kube::api::Patch::Merge(&patch)).await {
        tracing::debug!(pod = %ctx.name(), error = %e, "annotating log paths");
    }
}

async fn monitor(
    ctx: &Arc<PodCtx>,
    idx: usize,
    spec: &Container,
    mut child: Child,
    env: &std::collections::BTreeMap<String, String>,
    started_at: Timestamp,
    stop: &mut StopRx,
) -> Outcome {
    let (live_tx, mut live_rx) = oneshot::channel::<String>();
    let probes = tokio::spawn(probe_loop(ctx.clone(), idx, spec.clone(), live_tx));
    let limit = memory::limit(&ctx.name(), spec);
    let oom = memory::over_limit(child.id(), limit);
    tokio::pin!(oom);
    let result = loop {
        let requested = *stop.borrow();
        if let Some(deadline) = requested {
            let t = terminate(ctx, spec, &mut child, env, deadline, started_at).await;
            break Outcome::Stopped(t);
        }
        tokio::select! {
            status = child.wait() => {
                let (code, reason) = match &status {
                    Ok(s) => (process::exit_code(s), if s.success() { "Completed" } else { "Error" }),
                    Err(_) => (-1, "Error"),
                };
                break Outcome::Exited(Terminated {
                    exit_code: code,
                    reason: reason.into(),
                    message: None,
                    started_at: Some(started_at),
                    finished_at: Timestamp::now(),
                });
            }
            msg = &mut live_rx => {
                let msg = msg.unwrap_or_else(|_| "probe failed".into());
                tracing::info!(pod = %ctx.name(), container = %spec.name, %msg, "killing container");
                let deadline = Instant::now() + Duration::from_secs(ctx.grace_seconds() as u64);
                let mut t = terminate(ctx, spec, &mut child, env, deadline, started_at).await;
                t.reason = "Error".into();
                t.message = Some(msg);
                break Outcome::Exited(t);
            }
            over = &mut oom => {
                tracing::warn!(pod = %ctx.name(), container = %spec.name, rss = over.rss, limit = over.limit,
                    "memory limit exceeded, killing container");
                let t = memory::oom_kill(&mut child, over, started_at).await;
                break Outcome::Exited(t);
            }
            r = stop.changed() => if r.is_err() {
                let t = terminate(ctx, spec, &mut child, env, Instant::now(), started_at).await;
                break Outcome::Stopped(t);
            },
        }
    };
    probes.abort();
    result
}

/// preStop, SIGTERM, then SIGKILL at the deadline.
async fn terminate(
    ctx: &PodCtx,
    spec: &Container,
    child: &mut Child,
    env: &std::collections::BTreeMap<String, String>,
    deadline: Instant,
    started_at: Timestamp,
) -> Terminated {
    let pid = child.id();
    if let Some(hook) = spec.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
        let hook_run = run_hook(ctx, spec, hook, env);
        let _ = tokio::time::timeout_at(deadline, hook_run).await;
    }
    if let Some(pid) = pid {
        process::signal_group(pid, Signal::SIGTERM);
    }
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            if let Some(pid) = pid {
                process::signal_group(pid, Signal::SIGKILL);
            }
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    };
    // Whatever the main process left in its group goes too.
    if let Some(pid) = pid {
        process::signal_group(pid, Signal::SIGKILL);
    }
    let code = status.as_ref().map(process::exit_code).unwrap_or(137);
    Terminated {
        exit_code: code,
        reason: if code == 0 { "Completed" } else { "Error" }.into(),
        message: None,
        started_at: Some(started_at),
        finished_at: Timestamp::now(),
    }
}

async fn run_hook(
    ctx: &PodCtx,
    spec: &Container,
    hook: &LifecycleHandler,
    env: &std::collections::BTreeMap<String, String>,
) {
    if let Some(exec) = &hook.exec {
        let cmd = exec.command.clone().unwrap_or_default();
        if let Some((first, rest)) = cmd.split_first() {
            let run = ctx.shared.container_restart_count(&spec.name);
            let log = ctx.log_path(&spec.name, run);
            let out = std::fs::OpenOptions::new().create(true).append(true).open(&log);
            let (program, args) = ctx.in_pod_network(first, rest);
            let mut c = tokio::process::Command::new(program);
            c.args(args)
                .env_clear()
                .envs(env)
                .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
            c.current_dir(&ctx.pod_dir).kill_on_drop(true);
            if let Ok(f) = out {
                if let Ok(f2) = f.try_clone() {
                    c.stderr(std::process::Stdio::from(f2));
                }
                c.stdout(std::process::Stdio::from(f));
            }
            let _ = c.status().await;
        }
    } else if let Some(h) = &hook.http_get {
        let port = probe::resolve_port(&h.port, spec).unwrap_or(80);
        let host = h.host.clone().unwrap_or_else(|| ctx.pod_ip.clone());
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let _ = ctx.http.get(format!("http://{host}:{port}{path}")).send().await;
    } else if let Some(s) = &hook.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64)).await;
    }
}

/// Startup probe first; then readiness (sets `ready`) and liveness (sends on
/// `live_tx` when it fails `failureThreshold` times in a row).
async fn probe_loop(ctx: Arc<PodCtx>, idx: usize, spec: Container, live_tx: oneshot::Sender<String>) {
    if let Some(p) = &spec.startup_probe
        && let Err(msg) = until_threshold(&ctx, &spec, p, true).await
    {
        let _ = live_tx.send(format!("Startup probe failed: {msg}"));
        return;
    }
    ctx.shared.update(idx, |c| c.started = true);
    let readiness = async {
        let Some(p) = &spec.readiness_probe else {
            ctx.shared.update(idx, |c| c.ready = true);
            return std::future::pending::<()>().await;
        };
        tokio::time::sleep(probe::initial_delay(p)).await;
        let (mut ok, mut bad) = (0u32, 0u32);
        loop {
            match probe::run(p, &spec, &ctx.pod_ip, ctx.netns.as_ref(), &ctx.http).await {
                ProbeResult::Success => {
                    ok += 1;
                    bad = 0;
                    if ok >= probe::success_threshold(p) {
                        set_ready(&ctx, idx, true);
                    }
                }
                ProbeResult::Failure(_) => {
                    bad += 1;
                    ok = 0;
                    if bad >= probe::failure_threshold(p) {
                        set_ready(&ctx, idx, false);
                    }
                }
            }
            tokio::time::sleep(probe::period(p)).await;
        }
    };
    let liveness = async {
        let Some(p) = &spec.liveness_probe else {
            return std::future::pending::<String>().await;
        };
        match until_threshold(&ctx, &spec, p, false).await {
            Err(msg) => format!("Liveness probe failed: {msg}"),
            Ok(()) => std::future::pending::<String>().await,
        }
    };
    tokio::select! {
        _ = readiness => {}
        msg = liveness => { let _ = live_tx.send(msg); }
    }
}

fn set_ready(ctx: &PodCtx, idx: usize, ready: bool) {
    let changed = ctx.shared.container(idx).map(|c| c.ready != ready).unwrap_or(false);
    if changed {
        ctx.shared.update(idx, |c| c.ready = ready);
    }
}

/// For startup probes (`until_success`): Ok once it succeeds
/// successThreshold times. For liveness: never Ok; Err after
/// failureThreshold consecutive failures.
async fn until_threshold(
    ctx: &PodCtx,
    spec: &Container,
    p: &k8s_openapi::api::core::v1::Probe,
    until_success: bool,
) -> std::result::Result<(), String> {
    tokio::time::sleep(probe::initial_delay(p)).await;
    let mut bad = 0u32;
    loop {
        match probe::run(p, spec, &ctx.pod_ip, ctx.netns.as_ref(), &ctx.http).await {
            ProbeResult::Success => {
                bad = 0;
                if until_success {
                    return Ok(());
                }
            }
            ProbeResult::Failure(msg) => {
                bad += 1;
                if bad >= probe::failure_threshold(p) {
                    return Err(msg);
                }
            }
        }
        tokio::time::sleep(probe::period(p)).await;
    }
}
