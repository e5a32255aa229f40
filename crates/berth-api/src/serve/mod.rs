//! The command line the operator gives berth-serve, as one typed value.
//!
//! The operator builds [`ServeSettings`] and renders it with [`ServeSettings::to_args`];
//! berth-serve's `Args` parses the same flag names with the same value types
//! (`flags`), and a round-trip test in berth-serve holds the two together.

mod flags;

use crate::duration::KubeDuration;
use crate::spec::{Pooling, ServingSpec, Task, Truncation};

pub use flags::{FlagValueError, LogFormat, Normalize};

/// berth-serve's default ports (TF Serving's).
pub const DEFAULT_REST_PORT: u16 = 8501;
pub const DEFAULT_GRPC_PORT: u16 = 8500;

/// The BertModel whose `status.traffic` a pod in controlled mode converges on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BertModelRef {
    pub name: String,
    pub namespace: String,
}

/// Everything the operator passes to berth-serve.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    pub model_name: String,
    /// A directory, or an object-store URI (`SourceLocation`'s text).
    pub model_base_path: String,
    pub rest_api_port: u16,
    pub grpc_port: u16,
    /// Controlled mode; `None` serves whatever the base path holds.
    pub bertmodel: Option<BertModelRef>,
    pub max_batch_size: u32,
    pub max_batch_tokens: u32,
    /// Written in whole microseconds (see `to_args`).
    pub max_batch_delay: KubeDuration,
    pub max_sequence_length: u32,
    /// `None`: berth-serve divides the cores among the sessions.
    pub threads: Option<u32>,
    pub sessions: u32,
    pub queue_capacity: u32,
    pub truncation: Truncation,
    pub normalize: Normalize,
    pub pooling: Pooling,
    pub task: Option<Task>,
    /// Written in seconds (`--drain_timeout_seconds`).
    pub drain_timeout: KubeDuration,
    pub log_format: LogFormat,
}

impl ServeSettings {
    /// The settings of one model's `spec.serving`, with berth-serve's defaults for the
    /// rest (ports, standalone mode, text logs, 30 s drain).
    pub fn new(model_name: impl Into<String>, model_base_path: impl Into<String>, serving: &ServingSpec) -> Self {
        Self {
            model_name: model_name.into(),
            model_base_path: model_base_path.into(),
            rest_api_port: DEFAULT_REST_PORT,
            grpc_port: DEFAULT_GRPC_PORT,
            bertmodel: None,
            max_batch_size: serving.max_batch_size,
            max_batch_tokens: serving.max_batch_tokens,
            max_batch_delay: serving.max_batch_delay,
            max_sequence_length: serving.max_sequence_length,
            threads: Some(serving.threads),
            sessions: serving.sessions,
            queue_capacity: serving.queue_capacity,
            truncation: serving.truncation,
            normalize: Normalize::from(serving.normalize),
            pooling: serving.pooling,
            task: None,
            drain_timeout: KubeDuration::from_secs(30),
            log_format: LogFormat::Text,
        }
    }

    /// berth-serve's flags, in a fixed order. The order and the spelling of every
    /// value are part of the pod template: a change rolls every serving pod when the
    /// operator is upgraded, so they only change on purpose.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--model_name={}", self.model_name),
            format!("--model_base_path={}", self.model_base_path),
            format!("--rest_api_port={}", self.rest_api_port),
            format!("--port={}", self.grpc_port),
        ];
        if let Some(model) = &self.bertmodel {
            args.push(format!("--bertmodel_name={}", model.name));
            args.push(format!("--bertmodel_namespace={}", model.namespace));
        }
        args.extend([
            format!("--max_batch_size={}", self.max_batch_size),
            format!("--max_batch_tokens={}", self.max_batch_tokens),
            // Microseconds, as operators before this type wrote it (see above).
            format!("--max_batch_delay={}us", self.max_batch_delay.as_duration().as_micros()),
            format!("--max_sequence_length={}", self.max_sequence_length),
        ]);
        args.extend(self.threads.map(|threads| format!("--threads={threads}")));
        args.extend([
            format!("--sessions={}", self.sessions),
            format!("--queue_capacity={}", self.queue_capacity),
            format!("--truncation={}", self.truncation),
            format!("--normalize={}", self.normalize),
            format!("--pooling={}", self.pooling),
            format!("--drain_timeout_seconds={}", self.drain_timeout.as_duration().as_secs_f64()),
            format!("--log-format={}", self.log_format),
        ]);
        args.extend(self.task.map(|task| format!("--task={task}")));
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_flags_in_order() {
        let serving = ServingSpec { max_batch_delay: KubeDuration::from_millis(5), ..ServingSpec::default() };
        let settings = ServeSettings {
            bertmodel: Some(BertModelRef { name: "m".into(), namespace: "ml".into() }),
            task: Some(Task::Classification),
            log_format: LogFormat::Json,
            ..ServeSettings::new("m", "/models/m", &serving)
        };
        assert_eq!(
            settings.to_args(),
            [
                "--model_name=m",
                "--model_base_path=/models/m",
                "--rest_api_port=8501",
                "--port=8500",
                "--bertmodel_name=m",
                "--bertmodel_namespace=ml",
                "--max_batch_size=8",
                "--max_batch_tokens=512",
                "--max_batch_delay=5000us",
                "--max_sequence_length=128",
                "--threads=1",
                "--sessions=1",
                "--queue_capacity=256",
                "--truncation=truncate",
                "--normalize=auto",
                "--pooling=auto",
                "--drain_timeout_seconds=30",
                "--log-format=json",
                "--task=classification",
            ]
        );
    }

    #[test]
    fn standalone_settings_leave_the_controlled_flags_out() {
        let settings = ServeSettings { threads: None, ..ServeSettings::new("m", "/m", &ServingSpec::default()) };
        let args = settings.to_args();
        assert!(!args.iter().any(|a| a.starts_with("--bertmodel") || a.starts_with("--threads")), "{args:?}");
        assert!(!args.iter().any(|a| a.starts_with("--task")), "{args:?}");
    }
}
