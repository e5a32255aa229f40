//! Errors of the pod network (bridge, namespaces, veths).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network namespaces are not available here: {0}")]
    Unavailable(String),
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("no free /24 left in {0} for this cluster's bridge")]
    NoSubnet(&'static str),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetworkError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NetworkError::Io { context: context.into(), source }
    }
}
