//! Command line. The flag names are TF Serving's (`--model_name`,
//! `--model_base_path`, `--rest_api_port`, `--port`,
//! `--file_system_poll_wait_seconds`) so berth-serve drops in where
//! tensorflow_model_server ran; the batching and runtime knobs follow the
//! BertModel's `spec.serving`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::{KubeDuration, Normalize, Pooling, SourceLocation, Task, Truncation};
use berth_runtime::flag;
use clap::Parser;

use crate::config::{ServingConfig, Spinning};
use crate::manager::controlled::ControlledSource;
use crate::manager::{VersionLabels, VersionPolicy};
use crate::remote::RemoteStore;
use crate::server::{ServerOptions, Source};

/// The log format is part of the operator's contract too.
pub use berth_api::LogFormat;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "berth-serve",
    version,
    about = "Serve BERT models: Open Inference Protocol V2 (REST + gRPC), TF Serving model status, hot-swapped versions"
)]
pub struct Args {
    /// Name the model is served under.
    #[arg(long = "model_name", default_value = "default")]
    pub model_name: String,
    /// Model repository: version N lives in {base}/{N}/. A directory, or an object
    /// store: s3://bucket/prefix (AWS_* variables; AWS_ENDPOINT_URL for MinIO and
    /// other S3-compatible stores) or gs://bucket/prefix (GCS HMAC keys in AWS_*).
    #[arg(long = "model_base_path", env = "BERTH_MODEL_BASE_PATH")]
    pub model_base_path: PathBuf,
    /// Where versions from an object store are copied before they load
    /// (default: $TMPDIR/berth-serve/{model_name}).
    #[arg(long = "remote_cache_dir")]
    pub remote_cache_dir: Option<PathBuf>,
    /// Address to listen on. berth-local sets BERTH_BIND_ADDRESS to the pod's own
    /// loopback address, since its pods share the host's network.
    #[arg(long = "host", env = "BERTH_BIND_ADDRESS", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// REST port (0: any free port).
    #[arg(long = "rest_api_port", default_value_t = 8501)]
    pub rest_api_port: u16,
    /// gRPC port (0: any free port).
    #[arg(long = "port", default_value_t = 8500)]
    pub port: u16,
    /// Seconds between polls of the base path; 0 reads it once.
    #[arg(long = "file_system_poll_wait_seconds", default_value_t = 1.0)]
    pub file_system_poll_wait_seconds: f64,
    /// Versions to serve: latest[:N], all, or specific:V1,V2.
    #[arg(long = "model_version_policy", alias = "version_policy", default_value = "latest")]
    pub model_version_policy: String,
    /// Most rows in one session run.
    #[arg(long = "max_batch_size", default_value_t = 32)]
    pub max_batch_size: usize,
    /// Most padded tokens (rows x longest row) in one session run; 0: only --max_batch_size limits.
    #[arg(long = "max_batch_tokens", default_value_t = crate::config::DEFAULT_MAX_BATCH_TOKENS)]
    pub max_batch_tokens: usize,
    /// Longest wait for a batch to fill, e.g. 2ms, 500us, 0.01s (bare number: milliseconds).
    #[arg(long = "max_batch_delay", default_value = "2ms", value_parser = KubeDuration::parse_flag)]
    pub max_batch_delay: KubeDuration,
    /// Longest input in tokens, special tokens included.
    #[arg(long = "max_sequence_length", default_value_t = 128)]
    pub max_sequence_length: usize,
    /// What to do with longer inputs.
    #[arg(long = "truncation", value_parser = flag::<Truncation>(Truncation::NAMES), default_value_t = Truncation::Truncate)]
    pub truncation: Truncation,
    /// ONNX Runtime intra-op threads per session (default: all cores / sessions).
    #[arg(long = "threads")]
    pub threads: Option<usize>,
    /// Sessions per version (each with its own worker).
    #[arg(long = "sessions", default_value_t = 1)]
    pub sessions: usize,
    /// When idle ONNX Runtime threads spin-wait for work instead of sleeping.
    #[arg(long = "intra_op_spinning", value_enum, default_value_t = Spinning::DuringRun)]
    pub intra_op_spinning: Spinning,
    /// Requests waiting per version before new ones get 429 / RESOURCE_EXHAUSTED.
    #[arg(long = "queue_capacity", default_value_t = 256)]
    pub queue_capacity: usize,
    /// L2-normalise embeddings (auto: when the model directory says so).
    #[arg(long = "normalize", value_parser = flag::<Normalize>(Normalize::NAMES), default_value_t = Normalize::Auto)]
    pub normalize: Normalize,
    /// The task every version must have (embedding or classification); a version
    /// whose config says otherwise fails to load. Unset: whatever each version says.
    #[arg(long = "task", value_parser = flag::<Task>(Task::NAMES))]
    pub task: Option<Task>,
    /// Embedding pooling: mean, cls ([CLS] token), or auto (sentence-transformers'
    /// Pooling config or the manifest; mean when neither says).
    #[arg(long = "pooling", value_parser = flag::<Pooling>(Pooling::NAMES), default_value_t = Pooling::Auto)]
    pub pooling: Pooling,
    /// Largest request body / gRPC message in bytes.
    #[arg(long = "max_request_bytes", default_value_t = 16 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Warm every sequence-length bucket before a version is AVAILABLE.
    #[arg(long = "warmup", default_value_t = true, action = clap::ArgAction::Set)]
    pub warmup: bool,
    /// After SIGTERM: seconds of readiness=false before listeners close.
    #[arg(long = "drain_grace_seconds", default_value_t = 0.0)]
    pub drain_grace_seconds: f64,
    /// Longest wait for an unloading version's in-flight requests.
    #[arg(long = "drain_timeout_seconds", default_value_t = 30.0)]
    pub drain_timeout_seconds: f64,
    /// ONNX Runtime shared library.
    #[arg(long = "ort_library", env = "ORT_DYLIB_PATH")]
    pub ort_library: Option<PathBuf>,
    /// Controlled mode, mirrored copies: the share of wall time copies to the canary
    /// may run (0-1; 1 turns the budget off). Copies over it are dropped, not queued.
    #[arg(long = "mirror_budget", default_value_t = crate::config::DEFAULT_MIRROR_BUDGET)]
    pub mirror_budget: f64,
    /// SavedModel versions: the SignatureDef to serve (TF Serving's flag).
    #[arg(long = "signature_name", default_value = crate::config::DEFAULT_SIGNATURE_NAME)]
    pub signature_name: String,
    /// Version labels for TF Serving's `version_label` and `/labels/{l}`, e.g.
    /// `canary=3` or `stable=2,canary=3`. Without `stable`, it names the
    /// version default traffic goes to. Controlled mode uses the BertModel's.
    #[arg(long = "version_labels", default_value = "")]
    pub version_labels: String,
    /// Log format.
    #[arg(
        long = "log-format",
        alias = "log_format",
        value_parser = flag::<LogFormat>(LogFormat::NAMES),
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
    /// Controlled mode: the BertModel whose status.traffic this pod converges on.
    #[arg(long = "bertmodel_name", env = "BERTH_MODEL_NAME")]
    pub bertmodel_name: Option<String>,
    /// Its namespace (the downward API's metadata.namespace).
    #[arg(long = "bertmodel_namespace", env = "BERTH_MODEL_NAMESPACE", default_value = "default")]
    pub bertmodel_namespace: String,
    /// This pod's name (downward API), for status.canaryPods.
    #[arg(long = "pod_name", env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Write {"rest": ADDR, "grpc": ADDR} here once listening (for tests and tooling).
    #[arg(long = "address_file")]
    pub address_file: Option<PathBuf>,
}

/// The base path as berth-api reads a source: `None` for a plain directory.
fn base_location(path: &std::path::Path) -> Result<Option<SourceLocation>, String> {
    SourceLocation::parse_base_path(&path.to_string_lossy()).map_err(|e| format!("--model_base_path: {e}"))
}

fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|e| format!("--{name}: {e}"))
}

fn fraction(name: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("--{name}: {v} is not between 0 and 1")) }
}

impl Args {
    pub fn into_options(self) -> Result<ServerOptions, String> {
        let policy: VersionPolicy = self.model_version_policy.parse().map_err(|e| format!("{e}"))?;
        let version_labels: VersionLabels =
            self.version_labels.parse().map_err(|e| format!("--version_labels: {e}"))?;
        let sessions = self.sessions.max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let serving = ServingConfig {
            max_batch_size: self.max_batch_size.max(1),
            max_batch_tokens: self.max_batch_tokens,
            max_batch_delay: self.max_batch_delay.as_duration(),
            max_sequence_length: self.max_sequence_length.max(2),
            truncation: self.truncation,
            threads: self.threads.unwrap_or((cores / sessions).max(1)).max(1),
            sessions,
            spinning: self.intra_op_spinning,
            queue_capacity: self.queue_capacity.max(1),
            normalize: self.normalize,
            pooling: self.pooling,
            expected_task: self.task,
            warmup: self.warmup,
            drain_timeout: seconds("drain_timeout_seconds", self.drain_timeout_seconds)?,
            ort_library: self.ort_library,
            signature_name: self.signature_name,
            mirror_budget: fraction("mirror_budget", self.mirror_budget)?,
        };
        let interval = seconds("file_system_poll_wait_seconds", self.file_system_poll_wait_seconds)?;
        let (base, remote) = match base_location(&self.model_base_path)? {
            Some(location) if location.is_remote() => {
                let store =
                    RemoteStore::from_uri(&location.to_string()).map_err(|e| format!("--model_base_path: {e}"))?;
                let cache = self
                    .remote_cache_dir
                    .unwrap_or_else(|| std::env::temp_dir().join("berth-serve").join(&self.model_name));
                (cache, Some(Arc::new(store)))
            }
            Some(SourceLocation::File { path }) => (PathBuf::from(path), None),
            Some(pvc) => {
                return Err(format!("--model_base_path: {pvc} is mounted by the operator; pass its mount path"));
            }
            None => (self.model_base_path, None),
        };
        let source = match self.bertmodel_name {
            Some(name) => Source::Controlled(ControlledSource {
                name,
                namespace: self.bertmodel_namespace,
                pod_name: self.pod_name,
                base,
                remote,
                recheck: interval,
            }),
            None => Source::Poll { base, policy, interval, remote },
        };
        Ok(ServerOptions {
            model_name: self.model_name,
            source,
            rest_addr: SocketAddr::new(self.host, self.rest_api_port),
            grpc_addr: SocketAddr::new(self.host, self.port),
            serving,
            max_body_bytes: self.max_request_bytes,
            drain_grace: seconds("drain_grace_seconds", self.drain_grace_seconds)?,
            version_labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_serving_flags_parse() {
        let args = Args::try_parse_from([
            "berth-serve",
            "--model_name=bert",
            "--model_base_path=/models/bert",
            "--rest_api_port=9000",
            "--port",
            "9001",
            "--file_system_poll_wait_seconds=0.5",
            "--model_version_policy=latest:2",
            "--max_batch_delay=500us",
            "--truncation=reject",
            "--threads=2",
            "--ort_library=/x/libonnxruntime.so",
            "--signature_name=bert",
            "--intra_op_spinning=never",
            "--pooling=cls",
        ])
        .unwrap();
        let opts = args.into_options().unwrap();
        assert_eq!(opts.model_name, "bert");
        assert_eq!(opts.rest_addr.port(), 9000);
        assert_eq!(opts.grpc_addr.port(), 9001);
        assert_eq!(opts.serving.max_batch_delay, Duration::from_micros(500));
        assert_eq!(opts.serving.truncation, Truncation::Reject);
        assert_eq!(opts.serving.threads, 2);
        assert_eq!(opts.serving.signature_name, "bert");
        assert_eq!(opts.serving.spinning, Spinning::Never);
        assert_eq!(opts.serving.pooling, Pooling::Cls);
        let Source::Poll { policy, interval, .. } = opts.source else { panic!("standalone expected") };
        assert_eq!(policy, VersionPolicy::Latest(2));
        assert_eq!(interval, Duration::from_millis(500));
    }

    #[test]
    fn bertmodel_name_selects_controlled_mode() {
        let args = Args::try_parse_from([
            "berth-serve",
            "--model_base_path=/models/sentiment",
            "--bertmodel_name=sentiment",
            "--bertmodel_namespace=ml",
            "--pod_name=sentiment-abc",
        ])
        .unwrap();
        let Source::Controlled(c) = args.into_options().unwrap().source else { panic!("controlled expected") };
        assert_eq!((c.name.as_str(), c.namespace.as_str()), ("sentiment", "ml"));
        assert_eq!(c.pod_name.as_deref(), Some("sentiment-abc"));
    }

    /// `--max_batch_delay`'s parser (berth-api's, for flags).
    fn parse_duration(s: &str) -> Result<Duration, berth_api::duration::DurationParseError> {
        KubeDuration::parse_flag(s).map(|d| d.as_duration())
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2ms").unwrap(), Duration::from_millis(2));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_millis(5));
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("2 parsecs").is_err());
        assert!(parse_duration("-1ms").is_err());
    }

    #[test]
    fn base_paths_are_read_as_berth_api_reads_sources() {
        let source = |path: &str| {
            let flag = format!("--model_base_path={path}");
            Args::try_parse_from(["berth-serve", flag.as_str()]).unwrap().into_options().map(|o| o.source)
        };
        let Ok(Source::Poll { base, remote: None, .. }) = source("file:///models/m") else { panic!("a directory") };
        assert_eq!(base, PathBuf::from("/models/m"));
        let Ok(Source::Poll { base, remote: None, .. }) = source("models/m") else { panic!("a directory") };
        assert_eq!(base, PathBuf::from("models/m"));
        for bad in ["ftp://host/m", "s3://", "pvc://claim/m"] {
            let err = source(bad).map(|_| ()).unwrap_err();
            assert!(err.contains("--model_base_path"), "{bad}: {err}");
        }
    }

    #[test]
    fn enum_flags_list_their_values() {
        let err = Args::try_parse_from(["berth-serve", "--model_base_path=/m", "--pooling=max"]).unwrap_err();
        assert!(err.to_string().contains("auto, mean, cls"), "{err}");
        let args =
            Args::try_parse_from(["berth-serve", "--model_base_path=/m", "--normalize=false", "--task=embedding"]);
        let args = args.unwrap();
        assert_eq!((args.normalize, args.task), (Normalize::Never, Some(Task::Embedding)));
    }

    #[test]
    fn bad_policy_is_an_error() {
        let args =
            Args::try_parse_from(["berth-serve", "--model_base_path=/m", "--model_version_policy=newest"]).unwrap();
        assert!(args.into_options().is_err());
    }

    #[test]
    fn version_labels_flag() {
        let parse =
            |flag: &str| Args::try_parse_from(["berth-serve", "--model_base_path=/m", flag]).unwrap().into_options();
        let opts = parse("--version_labels=canary=3").unwrap();
        assert_eq!(opts.version_labels, "canary=3".parse().unwrap());
        let err = parse("--version_labels=canary").unwrap_err();
        assert!(err.contains("--version_labels"), "{err}");
    }
}
