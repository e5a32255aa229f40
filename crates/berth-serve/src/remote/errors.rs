//! What went wrong talking to the object store, in a few bounded categories for
//! metrics and the version's load error.

/// Failures talking to the object store; `category` is bounded for metrics.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{uri}: {message}")]
    Location { uri: String, message: String },
    /// The client could not be set up from the URI and environment (a missing
    /// account name, an unreadable credentials file, ...).
    #[error("{uri}: {source}")]
    Build {
        uri: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{uri}: {source}")]
    Fetch {
        uri: String,
        kind: FetchKind,
        #[source]
        source: object_store::Error,
    },
    /// No byte (or no answer) for a while: a stalled transfer fails the load
    /// instead of holding it until `loadTimeout`.
    #[error("{uri}: no data from the object store for {seconds} s")]
    Stalled { uri: String, seconds: u64 },
    #[error("no objects under {0} (is the version uploaded?)")]
    Empty(String),
    #[error("object key {0:?} leaves the version directory")]
    UnsafeKey(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a failed request to the store amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// Connecting, sending or receiving failed (after object_store's retries).
    Transport,
    /// 401/403: the credentials are missing, wrong, or lack the permission.
    Denied,
    /// 404: no such bucket or object.
    Missing,
    /// A listed key that is no valid path (`..`, empty segments).
    Unsafe,
    /// Anything else the store answered.
    Other,
}

impl RemoteError {
    pub fn category(&self) -> &'static str {
        match self {
            RemoteError::Location { .. } | RemoteError::Build { .. } => "config",
            RemoteError::Fetch { kind, .. } => match kind {
                FetchKind::Transport => "fetch-transport",
                FetchKind::Denied => "fetch-denied",
                FetchKind::Missing => "fetch-missing",
                FetchKind::Unsafe => "fetch-unsafe",
                FetchKind::Other => "fetch-error",
            },
            RemoteError::Stalled { .. } => "fetch-transport",
            RemoteError::Empty(_) => "fetch-missing",
            RemoteError::UnsafeKey(_) => "fetch-unsafe",
            RemoteError::Io { .. } => "io",
        }
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        RemoteError::Io { path: path.into(), source }
    }

    pub(crate) fn fetch(uri: &str, source: object_store::Error) -> Self {
        RemoteError::Fetch { uri: uri.to_string(), kind: classify(&source), source }
    }
}

/// object_store names NotFound and auth failures for GETs, but a failed listing
/// (and a failed credential fetch) arrives as `Generic`, wrapping an error type
/// the crate keeps private; the HTTP status is then only in its message, and a
/// transport failure shows as a `reqwest::Error` down the source chain.
pub fn classify(error: &object_store::Error) -> FetchKind {
    use object_store::Error;
    match error {
        Error::NotFound { .. } => FetchKind::Missing,
        Error::Unauthenticated { .. } | Error::PermissionDenied { .. } => FetchKind::Denied,
        Error::InvalidPath { .. } => FetchKind::Unsafe,
        other => match http_status(&other.to_string()) {
            Some(401 | 403) => FetchKind::Denied,
            Some(404) => FetchKind::Missing,
            Some(_) => FetchKind::Other,
            None if transport_in_chain(other) => FetchKind::Transport,
            None => FetchKind::Other,
        },
    }
}

/// The status of object_store's "Server returned non-2xx status code: 403 ...".
fn http_status(message: &str) -> Option<u16> {
    let (_, rest) = message.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

fn transport_in_chain(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<reqwest::Error>() {
            return r.is_connect() || r.is_timeout() || r.is_request() || r.is_body();
        }
        if e.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(message: &str) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source: message.to_string().into() }
    }

    #[test]
    fn store_errors_map_to_bounded_categories() {
        let uri = "s3://models/m";
        let not_found = object_store::Error::NotFound { path: "m/1/x".into(), source: "gone".into() };
        assert_eq!(RemoteError::fetch(uri, not_found).category(), "fetch-missing");
        let denied = object_store::Error::PermissionDenied { path: "m".into(), source: "no".into() };
        assert_eq!(RemoteError::fetch(uri, denied).category(), "fetch-denied");
        let listing = generic(
            "Error performing GET http://127.0.0.1/models?list-type=2 in 3ms - Server returned non-2xx \
             status code: 403 Forbidden: <Code>SignatureDoesNotMatch</Code>",
        );
        assert_eq!(RemoteError::fetch(uri, listing).category(), "fetch-denied");
        assert_eq!(RemoteError::fetch(uri, generic("status code: 404 Not Found")).category(), "fetch-missing");
        assert_eq!(RemoteError::fetch(uri, generic("status code: 500 oops")).category(), "fetch-error");
        assert_eq!(RemoteError::fetch(uri, generic("unreadable listing")).category(), "fetch-error");
        // A listed key such as `m/1/../x` fails object_store's path parsing.
        let Err(source) = object_store::path::Path::parse("m/1/../x") else { panic!("parsed") };
        assert_eq!(RemoteError::fetch(uri, source.into()).category(), "fetch-unsafe");
        let io = object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        };
        assert_eq!(RemoteError::fetch(uri, io).category(), "fetch-transport");
    }
}
