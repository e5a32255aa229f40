//! Why a request could not be given a version.

use super::VersionState;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    #[error("model {model:?} has no version {version:?}")]
    UnknownVersion { model: String, version: String },
    #[error("model {model:?} has no version labelled {label:?}")]
    UnknownLabel { model: String, label: String },
    #[error("version {version} of model {model:?} is {state}, not AVAILABLE{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    NotAvailable { model: String, version: super::VersionId, state: VersionState, error: Option<String> },
    #[error("model {0:?} has no AVAILABLE version")]
    NoneAvailable(String),
    #[error("the server is shutting down")]
    Draining,
}

impl RouteError {
    pub fn category(&self) -> &'static str {
        match self {
            RouteError::UnknownModel(_) => "unknown_model",
            RouteError::UnknownVersion { .. } => "unknown_version",
            RouteError::UnknownLabel { .. } => "unknown_label",
            RouteError::NotAvailable { .. } => "not_available",
            RouteError::NoneAvailable(_) => "not_available",
            RouteError::Draining => "draining",
        }
    }
}

/// Reading the model repository failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("reading model base path {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid version policy {0:?} (expected latest[:N], all, or specific:V1,V2,...)")]
    Policy(String),
    #[error("listing the model repository: {0}")]
    Remote(#[from] crate::remote::RemoteError),
}

impl RepoError {
    pub fn category(&self) -> &'static str {
        match self {
            RepoError::Io { .. } => "io",
            RepoError::Policy(_) => "policy",
            RepoError::Remote(e) => e.category(),
        }
    }
}
