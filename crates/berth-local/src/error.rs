//! One error type for berth-local's library code, with a bounded category so
//! logs and metrics can group failures without parsing messages.
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("io: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("yaml: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("image {image:?} is not mapped to a local binary (use --image PATTERN=PATH)")]
    ImageNotMapped { image: String },
    #[error("container config: {0}")]
    ContainerConfig(String),
    #[error("unsupported by berth-local: {0}")]
    Unsupported(String),
    #[error("address pool {0} is exhausted")]
    PoolExhausted(String),
    #[error("pod network: {0}")]
    Network(#[from] crate::network::NetworkError),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("api server: {0}")]
    ApiServer(String),
}

impl Error {
    /// A short, fixed label for the kind of failure.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Io { .. } => "io",
            Error::Json(_) => "json",
            Error::Yaml(_) => "yaml",
            Error::ImageNotMapped { .. } => "image",
            Error::ContainerConfig(_) => "container-config",
            Error::Unsupported(_) => "unsupported",
            Error::PoolExhausted(_) => "pool-exhausted",
            Error::Network(_) => "network",
            Error::Invalid(_) => "invalid",
            Error::ApiServer(_) => "apiserver",
        }
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// True when the API answered 404 (the object is gone).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 404)
    }

    /// True when the API answered 409 (conflict or already exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
