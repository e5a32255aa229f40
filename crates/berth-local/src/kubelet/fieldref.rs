//! The downward API: values of `fieldRef` paths for a pod, shared by env vars
//! and downwardAPI volumes.
use k8s_openapi::api::core::v1::Pod;

use crate::error::{Error, Result};

/// The value of `path` (e.g. `metadata.name`, `metadata.labels['app']`).
pub fn field_value(pod: &Pod, pod_ip: &str, node_name: &str, path: &str) -> Result<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let v =
        match path {
            "metadata.name" => meta.name.clone().unwrap_or_default(),
            "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
            "metadata.uid" => meta.uid.clone().unwrap_or_default(),
            "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => {
                if path.starts_with("status.host") { "127.0.0.1".to_string() } else { pod_ip.to_string() }
            }
            "spec.nodeName" => node_name.to_string(),
            "spec.serviceAccountName" => {
                spec.and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".to_string())
            }
            "metadata.labels" => format_map(meta.labels.as_ref()),
            "metadata.annotations" => format_map(meta.annotations.as_ref()),
            other => {
                if let Some(key) = bracket_key(other, "metadata.labels") {
                    meta.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default()
                } else if let Some(key) = bracket_key(other, "metadata.annotations") {
                    meta.annotations.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default()
                } else {
                    return Err(Error::ContainerConfig(format!("unsupported fieldRef fieldPath {other:?}")));
                }
            }
        };
    Ok(v)
}

/// `metadata.labels['app']` -> `app`.
fn bracket_key<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
    rest.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
}

/// The downward API's `key="value"` lines, sorted by key.
fn format_map(m: Option<&std::collections::BTreeMap<String, String>>) -> String {
    m.map(|m| m.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn resolves_paths() -> Result<()> {
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("ns".into());
        pod.metadata.labels = Some(BTreeMap::from([("app".into(), "x".into())]));
        assert_eq!(field_value(&pod, "127.1.0.2", "n", "metadata.name")?, "p");
        assert_eq!(field_value(&pod, "127.1.0.2", "n", "status.podIP")?, "127.1.0.2");
        assert_eq!(field_value(&pod, "", "n", "spec.nodeName")?, "n");
        assert_eq!(field_value(&pod, "", "n", "spec.serviceAccountName")?, "default");
        assert_eq!(field_value(&pod, "", "n", "metadata.labels['app']")?, "x");
        assert_eq!(field_value(&pod, "", "n", "metadata.labels")?, "app=\"x\"");
        assert!(field_value(&pod, "", "n", "spec.bogus").is_err());
        Ok(())
    }
}
