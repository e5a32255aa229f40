//! `berth.dev/v1alpha1` `BertModel`: the resource users write and the contract between
//! the operator and the serving pods. Types, schema, validation and helpers only; no I/O.

pub mod conditions;
pub mod crd;
pub mod duration;
pub mod golden;
pub mod labels;
pub mod metrics;
pub mod serve;
pub mod source;
pub mod spec;
pub mod status;
pub mod traffic;
pub mod validate;

pub use duration::KubeDuration;
pub use golden::{GoldenSet, GoldenSetError, GoldenSetSpec};
pub use serve::{BertModelRef, LogFormat, Normalize, ServeSettings};
pub use source::{SourceLocation, SourceUriError};
pub use spec::{
    AnalysisSpec, BertModel, BertModelSpec, ModelSource, Pooling, RolloutSpec, RolloutStep, ServingSpec, Task,
    Truncation,
};
pub use status::{
    AnalysisStatus, BertModelStatus, CounterSnapshot, LatencyBucket, Phase, RejectedVersion, RejectionReason,
    TrafficTarget, VersionReport, VersionState,
};
pub use traffic::{TrafficError, effective_weights, validate_traffic, weight_of};
pub use validate::{FieldError, SpecErrors, validate_spec};
