//! Errors as the protocols see them: an HTTP status (with the V2 body
//! `{"error": "..."}`) or a gRPC status code.

use axum::http::StatusCode;

use crate::engine::InferError;
use crate::manager::RouteError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed body, wrong datatype or shape, empty input...
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A path no endpoint serves.
    #[error("{0}")]
    NoRoute(String),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// Bounded label for metrics (`result`) and logs.
    pub fn category(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::PayloadTooLarge(_) => "too_large",
            ApiError::NoRoute(_) => "no_route",
            ApiError::Route(e) => e.category(),
            ApiError::Infer(e) => e.category(),
            ApiError::Internal(_) => "internal",
        }
    }

    /// The version failed on its own (the model or ONNX Runtime erred, the version went
    /// away mid-request): another version may well answer. Not the client's input, and
    /// not overload, where a second attempt would only add load.
    pub fn is_backend_failure(&self) -> bool {
        matches!(self, ApiError::Infer(InferError::Runtime(_) | InferError::Unavailable(_)) | ApiError::Internal(_))
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Route(
                RouteError::UnknownModel(_) | RouteError::UnknownVersion { .. } | RouteError::UnknownLabel { .. },
            ) => StatusCode::NOT_FOUND,
            ApiError::Route(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Infer(e) => match e {
                InferError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
                InferError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                InferError::Tokenize { .. } | InferError::InvalidInput(_) => StatusCode::BAD_REQUEST,
                InferError::Runtime(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn grpc_code(&self) -> tonic::Code {
        match self.http_status() {
            StatusCode::BAD_REQUEST => tonic::Code::InvalidArgument,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
            StatusCode::NOT_FOUND => tonic::Code::NotFound,
            StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
            _ => tonic::Code::Internal,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        tonic::Status::new(e.grpc_code(), e.to_string())
    }
}

/// The error body both REST APIs use (V2 and TF Serving): `{"error": "..."}`.
pub fn error_response(status: StatusCode, message: String) -> axum::response::Response {
    axum::response::IntoResponse::into_response((status, axum::Json(serde_json::json!({ "error": message }))))
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        error_response(self.http_status(), self.to_string())
    }
}
