//! Errors of the reconcile steps, each with a bounded category for metrics and Events.

use crate::build::BuildError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the BertModel has no namespace")]
    NoNamespace,
    #[error("building the children: {0}")]
    Build(#[from] BuildError),
    #[error("applying {kind} {name}: {source}")]
    Apply { kind: &'static str, name: String, source: kube::Error },
    #[error("listing the serving pods: {0}")]
    Observe(#[source] kube::Error),
    #[error("writing the status: {0}")]
    Status(#[source] kube::Error),
    #[error("removing the abort/promote annotation: {0}")]
    Annotations(#[source] kube::Error),
    #[error("serialising {0}: {1}")]
    Serialize(&'static str, #[source] serde_json::Error),
}

impl ReconcileError {
    /// A small fixed set: it labels `berth_operator_reconcile_errors_total`.
    pub fn category(&self) -> &'static str {
        match self {
            Self::NoNamespace | Self::Build(_) | Self::Serialize(..) => "build",
            Self::Apply { .. } => "apply",
            Self::Observe(_) => "observe",
            Self::Status(_) | Self::Annotations(_) => "status",
        }
    }

    /// Conflicts and throttling pass on their own; the rest deserve a look.
    pub fn is_transient(&self) -> bool {
        let kube_error = match self {
            Self::Apply { source, .. } => source,
            Self::Observe(e) | Self::Status(e) | Self::Annotations(e) => e,
            _ => return false,
        };
        matches!(kube_error, kube::Error::Api(s) if s.code == 409 || s.code == 429)
    }
}
