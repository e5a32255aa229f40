//! One HTTP client for both servers: the real one over TLS with its
//! self-signed certificate and a bearer token, berth-apiserver over plain HTTP.

use serde_json::{Value, json};
use std::time::Duration;

/// A status code and the decoded body (`null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: u16,
    pub body: Value,
}

impl Answer {
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "body": self.body})
    }

    pub fn rv(&self) -> String {
        self.body["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string()
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    base: String,
    token: String,
    http: reqwest::Client,
}

pub const JSON: &str = "application/json";
pub const MERGE: &str = "application/merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const APPLY: &str = "application/apply-patch+yaml";

impl Server {
    pub fn new(base: &str, token: &str) -> Self {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { base: base.trim_end_matches('/').to_string(), token: token.to_string(), http }
    }

    fn builder(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.http
            .request(m, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
    }

    pub async fn call(&self, method: &str, path: &str, ctype: &str, body: Option<&Value>) -> Answer {
        let mut b = self.builder(method, path);
        if let Some(v) = body {
            b = b.header("Content-Type", ctype).body(v.to_string());
        }
        let resp = b.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body =
            serde_json::from_str(&text).unwrap_or(if text.is_empty() { Value::Null } else { json!({"text": text}) });
        Answer { code, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, JSON, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, JSON, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.call("PUT", path, JSON, Some(body)).await
    }

    pub async fn patch(&self, path: &str, ctype: &str, body: &Value) -> Answer {
        self.call("PATCH", path, ctype, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>) -> Answer {
        self.call("DELETE", path, JSON, body).await
    }

    /// A watch: the status code and, for 200, every event until the server
    /// ends the stream (`timeoutSeconds` in `path`) or `within` passes.
    pub async fn watch(&self, path: &str, within: Duration) -> Answer {
        let mut resp = self.builder("GET", path).send().await.unwrap_or_else(|e| panic!("watch {path}: {e}"));
        let code = resp.status().as_u16();
        if code != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Answer { code, body: serde_json::from_str(&text).unwrap_or(json!({"text": text})) };
        }
        let deadline = tokio::time::Instant::now() + within;
        let mut buf: Vec<u8> = Vec::new();
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
            buf.extend_from_slice(&chunk);
        }
        let events: Vec<Value> = String::from_utf8_lossy(&buf)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or(json!({"text": l})))
            .collect();
        Answer { code, body: Value::Array(events) }
    }
}

impl Server {
    /// A GET that tolerates a server that is not up yet: the status code or `None`.
    pub async fn try_get(&self, path: &str) -> Option<u16> {
        self.builder("GET", path).send().await.ok().map(|r| r.status().as_u16())
    }
}
