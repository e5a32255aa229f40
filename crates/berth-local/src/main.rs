//! `berth`: the Berth command line. `berth local ...` runs a small Kubernetes
//! on this machine (see crate docs and docs/local.md).
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_local::cluster::{ClusterConfig, ClusterOptions, LocalCluster};
use berth_local::images::{ImageMap, ImageRule, berth as berth_images};
use berth_local::kubelet::Backoff;
use berth_local::procs;
use clap::{Args, Parser, Subcommand};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use nix::sys::signal::Signal;

#[derive(Parser)]
#[command(name = "berth", about = "Berth: serve BERT models on Kubernetes")]
struct Cli {
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Subcommand)]
enum Top {
    /// A local control plane: API server, controllers, kubelet, service proxy.
    Local {
        #[command(subcommand)]
        cmd: LocalCmd,
    },
}

#[derive(Args, Clone)]
struct StateArgs {
    /// Folder for all state (kubeconfig, logs, pod files); delete it to reset.
    #[arg(long, env = "BERTH_LOCAL_DIR", default_value = ".berth-local")]
    state_dir: PathBuf,
}

#[derive(Subcommand)]
enum LocalCmd {
    /// Start everything in the background and print the kubeconfig.
    Up {
        #[command(flatten)]
        state: StateArgs,
        /// API server port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Run in this process instead of a background daemon.
        #[arg(long)]
        foreground: bool,
        /// Map an image to a local binary: PATTERN=PATH. PATTERN is a glob
        /// over the image reference (`ghcr.io/berth/berth-serve:*`) or a bare
        /// repository name (`berth-serve`). Repeatable.
        #[arg(long = "image", value_parser = ImageMap::parse_rule)]
        images: Vec<ImageRule>,
        /// First restart back-off in milliseconds (Kubernetes: 10000).
        #[arg(long, default_value_t = 10_000)]
        backoff_base_ms: u64,
        /// Run containers without private mount namespaces (volume paths
        /// then come as BERTH_MOUNT_* variables).
        #[arg(long)]
        no_mount_namespaces: bool,
        /// Run pods in the host network with 127.1.x.y addresses instead of
        /// their own network namespaces (containers must then bind their
        /// pod address, see BERTH_POD_IP).
        #[arg(long)]
        no_network_namespaces: bool,
        /// The ONNX Runtime library for the berth-serve image (default:
        /// ORT_DYLIB_PATH, else .cache/ort/libonnxruntime.so of the
        /// workspace the binaries were built in).
        #[arg(long)]
        ort_library: Option<PathBuf>,
        /// Keep API objects across down/up (snapshot in the state dir).
        #[arg(long)]
        persist: bool,
    },
    /// Is it running, where is the API, how many pods run.
    Status {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Stop everything `up` started, pod processes included.
    Down {
        #[command(flatten)]
        state: StateArgs,
    },
}

fn main() -> anyhow::Result<()> {
    berth_runtime::init_logging(berth_runtime::LogFormat::Text, "info")?;
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().context("starting tokio")?;
    match cli.cmd {
        Top::Local { cmd } => rt.block_on(local(cmd)),
    }
}

fn abs(p: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))
}

/// The absolute state dir without creating it (status and down only read).
fn existing(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

async fn local(cmd: LocalCmd) -> anyhow::Result<()> {
    match cmd {
        LocalCmd::Up {
            state,
            port,
            foreground,
            images,
            backoff_base_ms,
            no_mount_namespaces,
            no_network_namespaces,
            ort_library,
            persist,
        } => {
            let dir = abs(&state.state_dir)?;
            // Containers start in their pod folder: relative binary paths
            // (`target/debug/berth-serve`) must be made absolute here.
            let images: Vec<ImageRule> = images
                .into_iter()
                .map(|r| ImageRule { binary: std::path::absolute(&r.binary).unwrap_or(r.binary), ..r })
                .collect();
            let ort_library = ort_library.map(|p| std::path::absolute(&p).unwrap_or(p));
            if foreground {
                let images = image_map(images, ort_library.as_deref())?;
                let cfg = ClusterConfig {
                    state_dir: dir.clone(),
                    port,
                    images,
                    backoff: Backoff { base: Duration::from_millis(backoff_base_ms), ..Backoff::default() },
                    mount_namespaces: no_mount_namespaces.then_some(false),
                    persist,
                };
                let opts = ClusterOptions { network_namespaces: no_network_namespaces.then_some(false) };
                run_foreground(&dir, cfg, opts).await
            } else {
                let mut args: Vec<String> = vec!["local".into(), "up".into(), "--foreground".into()];
                args.extend(["--state-dir".into(), dir.to_string_lossy().into_owned()]);
                args.extend(["--port".into(), port.to_string()]);
                args.extend(["--backoff-base-ms".into(), backoff_base_ms.to_string()]);
                for r in &images {
                    args.extend(["--image".into(), format!("{}={}", r.pattern, r.binary.display())]);
                }
                if no_mount_namespaces {
                    args.push("--no-mount-namespaces".into());
                }
                if no_network_namespaces {
                    args.push("--no-network-namespaces".into());
                }
                if let Some(p) = &ort_library {
                    args.extend(["--ort-library".into(), p.to_string_lossy().into_owned()]);
                }
                if persist {
                    args.push("--persist".into());
                }
                up_background(&dir, args).await
            }
        }
        LocalCmd::Status { state } => status(&existing(&state.state_dir)).await,
        LocalCmd::Down { state } => down(&existing(&state.state_dir)).await,
    }
}

/// `--image` rules first, then Berth's own images mapped to the binaries
/// beside this one.
fn image_map(rules: Vec<ImageRule>, ort_flag: Option<&Path>) -> anyhow::Result<ImageMap> {
    let exe = std::env::current_exe().context("finding own executable")?;
    let bin_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let env = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()).map(PathBuf::from);
    let ort = berth_images::find_ort_library(ort_flag, env.as_deref(), &bin_dir);
    let mut map = ImageMap::new(rules);
    berth_images::add_defaults(&mut map, &bin_dir, &ort);
    Ok(map)
}

/// What `up` and `status` print about the cluster: pod networking and
/// Berth's images that cannot run here.
fn notes(cluster: &LocalCluster, images: &ImageMap) -> String {
    let mut out = format!(
        "pod network: {}
",
        cluster.networking.summary()
    );
    for image in [berth_images::OPERATOR_IMAGE, berth_images::SERVE_IMAGE] {
        let reference = format!("{image}:latest");
        if let Some(i) = images.image(&reference) {
            match &i.config.unavailable {
                Some(why) => out.push_str(&format!(
                    "warning: {image}: {why}
"
                )),
                None => out.push_str(&format!("image {image}:* -> {}\n", i.binary.display())),
            }
        }
    }
    out
}

fn notes_file(dir: &Path) -> PathBuf {
    dir.join("notes")
}

fn pid_file(dir: &Path) -> PathBuf {
    dir.join("berth-local.pid")
}

fn kubeconfig_file(dir: &Path) -> PathBuf {
    dir.join("kubeconfig")
}

async fn run_foreground(dir: &Path, cfg: ClusterConfig, opts: ClusterOptions) -> anyhow::Result<()> {
    if let Some(pid) = procs::read_pid(&pid_file(dir)).filter(|p| procs::alive(*p))
        && pid != std::process::id() as i32
    {
        bail!("berth local is already running (pid {pid}); `berth local down` first");
    }
    std::fs::write(pid_file(dir), std::process::id().to_string()).context("writing pid file")?;
    let images = cfg.images.clone();
    let cluster = LocalCluster::start_with(cfg, opts).await.context("starting the local cluster")?;
    let notes = notes(&cluster, &images);
    for line in notes.lines() {
        tracing::info!("{line}");
    }
    std::fs::write(notes_file(dir), &notes).context("writing notes")?;
    let kc = kubeconfig_file(dir);
    let tmp = dir.join("kubeconfig.tmp");
    std::fs::write(&tmp, cluster.api.kubeconfig_yaml()).context("writing kubeconfig")?;
    std::fs::rename(&tmp, &kc).context("writing kubeconfig")?;
    tracing::info!(api = %cluster.api.url(), kubeconfig = %kc.display(), "berth local is up");
    berth_runtime::terminated().await;
    tracing::info!("stopping: pods first, then the API server");
    let _ = std::fs::remove_file(&kc);
    cluster.shutdown().await.context("stopping")?;
    let _ = std::fs::remove_file(pid_file(dir));
    Ok(())
}

async fn client_for(dir: &Path) -> anyhow::Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig_file(dir)).context("reading kubeconfig")?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(cfg)?)
}

async fn up_background(dir: &Path, args: Vec<String>) -> anyhow::Result<()> {
    let kc = kubeconfig_file(dir);
    if let Some(pid) = procs::read_pid(&pid_file(dir)).filter(|p| procs::alive(*p)) {
        println!("berth local is already running (pid {pid})");
        print_kubeconfig(&kc);
        return Ok(());
    }
    let _ = std::fs::remove_file(&kc);
    let log_path = dir.join("berth-local.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
    let exe = std::env::current_exe().context("finding own executable")?;
    let mut child = std::process::Command::new(exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        // Its own process group: a Ctrl-C in this terminal must not reach it.
        .process_group(0)
        .spawn()
        .context("starting the daemon")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("the daemon exited ({st}):\n{}", tail.join("\n"));
        }
        if kc.exists()
            && let Ok(client) = client_for(dir).await
            && client.apiserver_version().await.is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the API server did not answer within 60s; see {}", log_path.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("berth local is up (pid {}), logs in {}", child.id(), log_path.display());
    print!("{}", std::fs::read_to_string(notes_file(dir)).unwrap_or_default());
    print_kubeconfig(&kc);
    Ok(())
}

fn print_kubeconfig(kc: &Path) {
    println!("kubeconfig: {}", kc.display());
    println!("export KUBECONFIG={}", kc.display());
}

async fn status(dir: &Path) -> anyhow::Result<()> {
    let Some(pid) = procs::read_pid(&pid_file(dir)).filter(|p| procs::alive(*p)) else {
        println!("berth local is not running (state dir {})", dir.display());
        return Ok(());
    };
    println!("berth local is running (pid {pid})");
    let client = client_for(dir).await?;
    let cfg = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig_file(dir))?,
        &KubeConfigOptions::default(),
    )
    .await?;
    println!("API server: {}", cfg.cluster_url);
    println!("kubeconfig: {}", kubeconfig_file(dir).display());
    print!("{}", std::fs::read_to_string(notes_file(dir)).unwrap_or_default());
    let pods = Api::<Pod>::all(client).list(&ListParams::default()).await?.items;
    let running = pods.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count();
    println!("pods: {running} running, {} in all", pods.len());
    Ok(())
}

async fn down(dir: &Path) -> anyhow::Result<()> {
    let pid = procs::read_pid(&pid_file(dir)).filter(|p| procs::alive(*p));
    if let Some(pid) = pid {
        procs::signal(pid, Signal::SIGTERM);
        // The daemon gives pods at most 10s each to stop, in parallel.
        let deadline = Instant::now() + Duration::from_secs(40);
        while procs::alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if procs::alive(pid) {
            eprintln!("daemon {pid} did not stop in time; killing it");
            procs::signal(pid, Signal::SIGKILL);
        }
    }
    // Whatever survived (the daemon was killed, or crashed earlier).
    let mut left = procs::pod_processes(dir);
    for p in &left {
        procs::signal(*p, Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left.retain(|p| procs::alive(*p));
    }
    // Namespaces, veths and the bridge a crashed daemon left.
    let net = berth_local::network::remove_all(dir).await;
    if let Ok(removed) = &net
        && !removed.is_empty()
    {
        println!("removed the pod network left behind: {}", removed.join(", "));
    }
    let _ = std::fs::remove_file(pid_file(dir));
    let _ = std::fs::remove_file(kubeconfig_file(dir));
    let _ = std::fs::remove_file(notes_file(dir));
    net.context("removing the pod network")?;
    match (pid, left.is_empty()) {
        (_, false) => bail!("processes still running: {left:?}"),
        (Some(pid), true) => println!("berth local stopped (pid {pid})"),
        (None, true) => println!("berth local was not running"),
    }
    Ok(())
}
