//! Errors: start-up failures (`ApiServerError`) and request failures
//! (`ApiError`), the latter rendered as Kubernetes `Status` objects worded the
//! way the real API server words them (clients and kubectl match on them).

use serde_json::{Value, json};
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("state snapshot {path}: {source}")]
    Snapshot { path: std::path::PathBuf, source: std::io::Error },
    #[error("state snapshot {path} is not valid JSON: {source}")]
    SnapshotFormat { path: std::path::PathBuf, source: serde_json::Error },
}

impl ApiServerError {
    /// A bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "bind",
            Self::Snapshot { .. } | Self::SnapshotFormat { .. } => "snapshot",
        }
    }
}

/// One failure of one field, as `details.causes[]` carries it.
#[derive(Debug, Clone)]
pub struct Cause {
    pub reason: &'static str,
    pub message: String,
    pub field: String,
}

/// A request failure; becomes a `Status` object with the matching HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    pub retry_after: Option<u64>,
}

/// `resource.group` as the real server prints it (`pods`, `bertmodels.berth.dev`).
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            name: None,
            group: None,
            kind: None,
            causes: Vec::new(),
            retry_after: None,
        }
    }

    pub fn category(&self) -> &'static str {
        self.reason
    }

    fn with_target(mut self, resource: &str, group: &str, name: &str) -> Self {
        self.name = Some(name.to_string());
        self.group = Some(group.to_string());
        self.kind = Some(resource.to_string());
        self
    }

    /// Drop the object from `details` (the real server leaves it out of some errors).
    pub fn without_target(mut self) -> Self {
        self.name = None;
        self.group = None;
        self.kind = None;
        self
    }

    pub fn not_found(resource: &str, group: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{} \"{name}\" not found", qualified(resource, group)))
            .with_target(resource, group, name)
    }

    pub fn path_not_found() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
    }

    pub fn already_exists(resource: &str, group: &str, name: &str) -> Self {
        Self::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", qualified(resource, group)))
            .with_target(resource, group, name)
    }

    pub fn conflict(resource: &str, group: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {} \"{name}\": {why}", qualified(resource, group)),
        )
        .with_target(resource, group, name)
    }

    pub fn stale(resource: &str, group: &str, name: &str) -> Self {
        Self::conflict(
            resource,
            group,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 with causes; `kind` is the Kind (e.g. `BertModel.berth.dev`).
    pub fn invalid(kind_group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| if c.field.is_empty() { c.message.clone() } else { format!("{}: {}", c.field, c.message) })
            .collect();
        let detail = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
        let mut e = Self::new(422, "Invalid", format!("{kind_group} \"{name}\" is invalid: {detail}"));
        let (kind, group) = match kind_group.split_once('.') {
            Some((k, g)) => (k.to_string(), g.to_string()),
            None => (kind_group.to_string(), String::new()),
        };
        e.name = Some(name.to_string());
        e.kind = Some(kind);
        e.group = Some(group);
        e.causes = causes;
        e
    }

    /// A patch that cannot be applied (422 with the patch library's words).
    pub fn invalid_patch(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// Something this server deliberately does not implement.
    pub fn unsupported(what: &str) -> Self {
        Self::new(501, "NotImplemented", format!("berth-apiserver does not implement {what}"))
    }

    /// Replace the message with a more specific one.
    pub fn with_detail(mut self, message: &str) -> Self {
        self.message = message.to_string();
        self
    }

    pub fn status_json(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = self.name.as_ref().filter(|n| !n.is_empty()) {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group
            && !g.is_empty()
        {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(r) = self.retry_after {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}
