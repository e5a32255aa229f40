//! A reconcile's error: the step that failed and that step's own error. The bounded
//! `category()` labels `berth_operator_reconcile_errors_total` and names the Warning
//! Event (`ReconcileError<Category>`); the message starts with the step.

use crate::build::BuildError;
use crate::controller::steps::apply::ApplyError;
use crate::controller::steps::observe::ObserveError;
use crate::controller::steps::status::StatusError;
use crate::controller::steps::validate::ValidateError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("validate: {0}")]
    Validate(#[from] ValidateError),
    #[error("build: {0}")]
    Build(#[from] BuildError),
    #[error("apply: {0}")]
    Apply(#[from] ApplyError),
    #[error("observe: {0}")]
    Observe(#[from] ObserveError),
    #[error("status: {0}")]
    Status(#[from] StatusError),
}

impl ReconcileError {
    /// A small fixed set: it labels `berth_operator_reconcile_errors_total`. A model
    /// without a namespace counts as `build` (nothing can be built for it), as before
    /// the steps were split.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Validate(_) | Self::Build(_) => "build",
            Self::Apply(_) => "apply",
            Self::Observe(_) => "observe",
            Self::Status(_) => "status",
        }
    }

    /// The step that failed, for the log.
    pub fn step(&self) -> &'static str {
        match self {
            Self::Validate(_) => "validate",
            Self::Build(_) => "build",
            Self::Apply(_) => "apply",
            Self::Observe(_) => "observe",
            Self::Status(_) => "status",
        }
    }

    /// Conflicts and throttling pass on their own; the rest deserve a look.
    pub fn is_transient(&self) -> bool {
        let kube_error = match self {
            Self::Apply(ApplyError { source, .. }) => source,
            Self::Observe(ObserveError(e))
            | Self::Status(StatusError::Write(e))
            | Self::Status(StatusError::Leftovers(e))
            | Self::Status(StatusError::Annotations(e)) => e,
            Self::Validate(_) | Self::Build(_) | Self::Status(StatusError::Serialize(_)) => return false,
        };
        matches!(kube_error, kube::Error::Api(s) if s.code == 409 || s.code == 429)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_step_and_categories_stay_bounded() {
        let e = ReconcileError::from(ValidateError::NoNamespace);
        assert_eq!(e.to_string(), "validate: the BertModel has no namespace");
        assert_eq!((e.category(), e.step()), ("build", "validate"));
        assert!(!e.is_transient());
        let e = ReconcileError::from(BuildError::MissingMetadata("metadata.uid"));
        assert_eq!((e.category(), e.step()), ("build", "build"));
        assert!(e.to_string().starts_with("build: "));
    }
}
