//! The desired state a user writes: `BertModel.spec`.
//!
//! Every optional field has a schema default, so what the API server stores is the
//! complete, explicit spec and the operator never invents values of its own.

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::KubeDuration;
use crate::golden::GoldenSetSpec;
use crate::source::{SourceLocation, SourceUriError};
use crate::status::BertModelStatus;

/// A version names a directory `{source.uri}/{version}/`: a DNS-1123 label, so it is
/// also safe in labels, metric labels and object names.
pub const VERSION_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// The storage schemes the serving pods know how to fetch from, with the shape
/// `SourceLocation`'s parser accepts (a test holds the two together): a path after
/// `file://`, a claim, bucket or container name after the others, no whitespace.
pub const SOURCE_URI_PATTERN: &str = r"^(file://[^\t\n\f\r ]+|(pvc|s3|gs|az)://[^/\t\n\f\r ]+(/[^\t\n\f\r ]*)?)$";

/// A BERT model served by Berth; changing `spec.version` rolls the new version out.
// Printer columns repeat `type_ = "string"` by nature; clippy reads that as a typo.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "BertModel",
    plural = "bertmodels",
    shortname = "bm",
    namespaced,
    status = "BertModelStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "Stable", type_ = "string", json_path = ".status.stableVersion"),
    printcolumn(name = "Canary", type_ = "string", json_path = ".status.canaryVersion"),
    printcolumn(name = "Weight", type_ = "number", json_path = ".status.canaryWeight"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct BertModelSpec {
    /// The version to serve. Changing it starts a rollout.
    #[schemars(regex(pattern = VERSION_PATTERN), length(min = 1, max = 63))]
    pub version: String,

    /// Where the versions live: version N is `{uri}/{N}/`.
    pub source: ModelSource,

    /// What the model computes. Without it the server reads `config.json`: `id2label`
    /// makes a classifier, anything else an embedding model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,

    /// Serving pods.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,

    #[serde(default)]
    pub serving: ServingSpec,

    #[serde(default)]
    pub rollout: RolloutSpec,

    /// Override of the serving image the operator is installed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,

    /// Requests and limits for the serving container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl ModelSource {
    /// The typed location; the one reading of `uri` every component uses.
    pub fn location(&self) -> Result<SourceLocation, SourceUriError> {
        self.uri.parse()
    }
}

fn default_replicas() -> i32 {
    1
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSource {
    /// Base URI of the model repository: file://, pvc://, s3://, gs://, az://.
    #[schemars(regex(pattern = SOURCE_URI_PATTERN))]
    pub uri: String,
    /// Secret with credentials for the storage (AWS_ACCESS_KEY_ID, ... for s3://).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Task {
    Classification,
    Embedding,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Truncation {
    /// Cut inputs at `maxSequenceLength` (the closing `[SEP]` is kept); the response
    /// says it did.
    #[default]
    Truncate,
    /// Answer 400 for inputs over `maxSequenceLength`.
    Reject,
}

/// How token vectors become one embedding.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Pooling {
    /// What the version directory says: sentence-transformers' Pooling config
    /// (`modules.json` -> `1_Pooling/config.json`) or the manifest; mean otherwise.
    #[default]
    Auto,
    /// Mean over the tokens the attention mask keeps.
    Mean,
    /// The first ([CLS]) token's vector, as BGE-style models are trained.
    Cls,
}

/// How each serving pod runs the model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServingSpec {
    #[serde(default = "default_max_batch_size")]
    #[schemars(range(min = 1, max = 1024))]
    pub max_batch_size: u32,
    /// Most padded tokens (rows x longest row) in one batch; 0 limits by rows only.
    /// About 512 reaches ONNX Runtime's best throughput on CPU; more only adds waiting.
    #[serde(default = "default_max_batch_tokens")]
    #[schemars(range(min = 0, max = 1048576))]
    pub max_batch_tokens: u32,
    /// How long a request may wait for others to fill a batch.
    #[serde(default = "default_max_batch_delay")]
    pub max_batch_delay: KubeDuration,
    #[serde(default = "default_max_sequence_length")]
    #[schemars(range(min = 8, max = 8192))]
    pub max_sequence_length: u32,
    /// Intra-op threads per ONNX Runtime session.
    #[serde(default = "default_threads")]
    #[schemars(range(min = 1, max = 256))]
    pub threads: u32,
    /// Sessions per loaded version (requests run on them in parallel).
    #[serde(default = "default_sessions")]
    #[schemars(range(min = 1, max = 64))]
    pub sessions: u32,
    /// Requests allowed to wait; more are refused with 429 at once.
    #[serde(default = "default_queue_capacity")]
    #[schemars(range(min = 1, max = 100000))]
    pub queue_capacity: u32,
    #[serde(default)]
    pub truncation: Truncation,
    #[serde(default)]
    pub pooling: Pooling,
    /// L2-normalise embeddings: true or false; unset follows the model
    /// (sentence-transformers' `Normalize` module in `modules.json`, or the manifest),
    /// so a model trained for dot products keeps its magnitudes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
}

fn default_max_batch_size() -> u32 {
    8
}
fn default_max_batch_tokens() -> u32 {
    512
}
fn default_max_batch_delay() -> KubeDuration {
    KubeDuration::from_millis(2)
}
fn default_max_sequence_length() -> u32 {
    128
}
fn default_threads() -> u32 {
    1
}
fn default_sessions() -> u32 {
    1
}
fn default_queue_capacity() -> u32 {
    256
}

impl Default for ServingSpec {
    fn default() -> Self {
        Self {
            max_batch_size: default_max_batch_size(),
            max_batch_tokens: default_max_batch_tokens(),
            max_batch_delay: default_max_batch_delay(),
            max_sequence_length: default_max_sequence_length(),
            threads: default_threads(),
            sessions: default_sessions(),
            queue_capacity: default_queue_capacity(),
            truncation: Truncation::default(),
            pooling: Pooling::default(),
            normalize: None,
        }
    }
}

/// How a new version takes traffic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Traffic steps for the new version; weights strictly increase and the last is 100.
    #[serde(default = "default_steps")]
    #[schemars(length(min = 1, max = 20))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "self[size(self) - 1].weight == 100.0",
            "message": "the last step must have weight 100"
        },
        {
            "rule": "self.map(s, s.weight).isSorted() && self.all(s, self.exists_one(t, t.weight == s.weight))",
            "message": "step weights must be strictly increasing"
        }
    ]))]
    pub steps: Vec<RolloutStep>,

    #[serde(default)]
    pub analysis: AnalysisSpec,

    /// How long every pod may take to load and warm the new version.
    #[serde(default = "default_load_timeout")]
    pub load_timeout: KubeDuration,

    /// How many pods load a new version at once; the first batch must succeed before
    /// the next starts, so a version that kills its process takes down at most this many.
    #[serde(default = "default_max_loading_pods")]
    #[schemars(range(min = 1))]
    pub max_loading_pods: i32,

    /// Hold the rollout at its current step.
    #[serde(default)]
    pub paused: bool,

    /// Let a new version whose embeddings live in another space than stable's (another
    /// output dimension, or answers that barely agree with stable's on the same inputs)
    /// roll out. Off: such a version is rejected as `EmbeddingSpaceChanged` before it
    /// answers a client, because the vectors clients stored from stable would silently
    /// stop matching.
    #[serde(default)]
    pub allow_embedding_space_change: bool,

    /// Texts with the answers a new version must give, evaluated by every pod on the
    /// freshly loaded canary before it takes mirrored or live traffic. A canary that
    /// fails is rejected as `GoldenSet` and never answers a client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_set: Option<GoldenSetSpec>,
}

fn default_steps() -> Vec<RolloutStep> {
    vec![
        RolloutStep { weight: 10.0, pause: Some(KubeDuration::from_secs(30)), mirror: None },
        RolloutStep { weight: 50.0, pause: Some(KubeDuration::from_secs(30)), mirror: None },
        RolloutStep { weight: 100.0, pause: None, mirror: None },
    ]
}
fn default_load_timeout() -> KubeDuration {
    KubeDuration::from_secs(300)
}
fn default_max_loading_pods() -> i32 {
    1
}

impl Default for RolloutSpec {
    fn default() -> Self {
        Self {
            steps: default_steps(),
            analysis: AnalysisSpec::default(),
            load_timeout: default_load_timeout(),
            max_loading_pods: default_max_loading_pods(),
            paused: false,
            allow_embedding_space_change: false,
            golden_set: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.weight > 0.0 || (has(self.mirror) && self.mirror > 0.0)",
        "message": "a step with weight 0 must mirror requests (mirror > 0): it has nothing else to judge"
    }
]))]
pub struct RolloutStep {
    /// Percent of requests sent to the new version (0-100, fractions allowed). 0 with
    /// `mirror` is a shadow step: the new version is judged on copies before it
    /// answers a single client.
    #[schemars(range(min = 0.0, max = 100.0))]
    pub weight: f64,
    /// How long to hold this step (while analysis passes) before the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<KubeDuration>,
    /// Percent of the requests stable answers that each pod also sends to the new
    /// version, to compare its answers with stable's (`analysis.minAgreement`). The
    /// copy is thrown away: it never changes what a client gets or makes it wait, and
    /// it is dropped when the new version has no spare capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub mirror: Option<f64>,
}

/// Limits the canary is judged against at every interval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSpec {
    #[serde(default = "default_interval")]
    pub interval: KubeDuration,
    /// Largest tolerated fraction of failed canary requests (0-1).
    #[serde(default = "default_max_error_rate")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_error_rate: f64,
    #[serde(default = "default_max_p99_latency")]
    pub max_p99_latency: KubeDuration,
    /// Requests an interval needs before it is judged at all.
    #[serde(default = "default_min_requests")]
    #[schemars(range(min = 0))]
    pub min_requests: u64,
    /// Consecutive failed intervals that trigger a rollback.
    #[serde(default = "default_failure_limit")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_limit: u32,
    /// Lowest tolerated agreement of the new version with stable on mirrored requests
    /// (0-1): the mean cosine similarity of their embeddings, or the share of inputs
    /// where a classifier's top label is the same. Absent: agreement is reported, not
    /// judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_agreement: Option<f64>,
    /// Compared inputs an interval needs before its agreement is judged.
    #[serde(default = "default_min_agreement_samples")]
    #[schemars(range(min = 1))]
    pub min_agreement_samples: u64,
}

fn default_interval() -> KubeDuration {
    KubeDuration::from_secs(10)
}
fn default_max_error_rate() -> f64 {
    0.01
}
fn default_max_p99_latency() -> KubeDuration {
    KubeDuration::from_millis(500)
}
fn default_min_requests() -> u64 {
    20
}
fn default_min_agreement_samples() -> u64 {
    20
}
fn default_failure_limit() -> u32 {
    2
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            max_error_rate: default_max_error_rate(),
            max_p99_latency: default_max_p99_latency(),
            min_requests: default_min_requests(),
            failure_limit: default_failure_limit(),
            min_agreement: None,
            min_agreement_samples: default_min_agreement_samples(),
        }
    }
}
