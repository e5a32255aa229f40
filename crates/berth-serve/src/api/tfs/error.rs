//! Errors as TF Serving reports them: a canonical code (gRPC status; the
//! `error_code` of a status) and, over REST, `{"error": "..."}` with the HTTP
//! status TF Serving's HTTP server maps that code to.

use axum::http::StatusCode;

use crate::api::ApiError;
use crate::engine::InferError;
use crate::manager::RouteError;

#[derive(Debug, thiserror::Error)]
pub enum TfsError {
    #[error("{0}")]
    InvalidArgument(String),
    /// The request does not fit the model (unknown signature, Classify on a
    /// model that is not a classifier).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unimplemented(String),
    /// Everything else keeps the code the rest of the server gives it
    /// (overload, unavailable, too large, internal).
    #[error(transparent)]
    Api(ApiError),
}

impl TfsError {
    pub fn bad(message: impl Into<String>) -> Self {
        TfsError::InvalidArgument(message.into())
    }

    pub fn code(&self) -> tonic::Code {
        match self {
            TfsError::InvalidArgument(_) => tonic::Code::InvalidArgument,
            TfsError::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            TfsError::NotFound(_) => tonic::Code::NotFound,
            TfsError::Unimplemented(_) => tonic::Code::Unimplemented,
            TfsError::Api(e) => e.grpc_code(),
        }
    }

    /// TF Serving's mapping (http_server.cc): both INVALID_ARGUMENT and
    /// FAILED_PRECONDITION are 400.
    pub fn http_status(&self) -> StatusCode {
        match self {
            TfsError::InvalidArgument(_) | TfsError::FailedPrecondition(_) => StatusCode::BAD_REQUEST,
            TfsError::NotFound(_) => StatusCode::NOT_FOUND,
            TfsError::Unimplemented(_) => StatusCode::NOT_IMPLEMENTED,
            TfsError::Api(e) => e.http_status(),
        }
    }
}

/// Route failures are worded like TF Serving's when no servable matched
/// ("Servable not found for request: Specific(tiny, 9)").
impl From<ApiError> for TfsError {
    fn from(e: ApiError) -> Self {
        let not_found = |request: String, detail: Option<String>| {
            let base = format!("Servable not found for request: {request}");
            TfsError::NotFound(detail.map_or_else(|| base.clone(), |d| format!("{base}: {d}")))
        };
        match e {
            ApiError::Route(RouteError::UnknownModel(m)) => not_found(format!("Latest({m})"), None),
            ApiError::Route(RouteError::UnknownVersion { model, version }) => {
                not_found(format!("Specific({model}, {version})"), None)
            }
            ApiError::Route(ref r @ RouteError::UnknownLabel { ref model, ref label }) => {
                not_found(format!("Label({model}, {label})"), Some(r.to_string()))
            }
            // TF Serving has no "loading" answer: a version that is not
            // AVAILABLE is not found. The state is added so a caller knows
            // whether to wait.
            ApiError::Route(ref r @ RouteError::NotAvailable { ref model, ref version, .. }) => {
                not_found(format!("Specific({model}, {version})"), Some(r.to_string()))
            }
            ApiError::BadRequest(m) => TfsError::InvalidArgument(m),
            ApiError::Infer(InferError::Tokenize { .. } | InferError::InvalidInput(_)) => {
                TfsError::InvalidArgument(e.to_string())
            }
            // No version at all yet, or draining: UNAVAILABLE (503), which
            // clients retry, rather than TF Serving's NOT_FOUND.
            other => TfsError::Api(other),
        }
    }
}

impl From<TfsError> for tonic::Status {
    fn from(e: TfsError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}

impl axum::response::IntoResponse for TfsError {
    fn into_response(self) -> axum::response::Response {
        crate::api::error::error_response(self.http_status(), self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::{VersionId, VersionState};

    #[test]
    fn codes_and_http_statuses_follow_tf_serving() {
        let unknown =
            TfsError::from(ApiError::Route(RouteError::UnknownVersion { model: "tiny".into(), version: "9".into() }));
        assert_eq!(unknown.code(), tonic::Code::NotFound);
        assert_eq!(unknown.http_status(), StatusCode::NOT_FOUND);
        assert_eq!(unknown.to_string(), "Servable not found for request: Specific(tiny, 9)");
        let loading = TfsError::from(ApiError::Route(RouteError::NotAvailable {
            model: "tiny".into(),
            version: VersionId::from(3),
            state: VersionState::Loading,
            error: None,
        }));
        assert_eq!(loading.code(), tonic::Code::NotFound);
        assert!(loading.to_string().contains("LOADING"), "{loading}");
        let busy = TfsError::from(ApiError::Infer(InferError::Overloaded { version: VersionId::from(1), capacity: 4 }));
        assert_eq!((busy.code(), busy.http_status()), (tonic::Code::ResourceExhausted, StatusCode::TOO_MANY_REQUESTS));
        let pre = TfsError::FailedPrecondition("x".into());
        assert_eq!((pre.code(), pre.http_status()), (tonic::Code::FailedPrecondition, StatusCode::BAD_REQUEST));
        let none = TfsError::from(ApiError::Route(RouteError::NoneAvailable("tiny".into())));
        assert_eq!(none.code(), tonic::Code::Unavailable);
    }
}
