//! Reads the golden set a canary is judged by from the ConfigMap that
//! `spec.rollout.goldenSet` names (the pod's Role allows `get` on that one
//! ConfigMap). What the ConfigMap says is final for the canary: missing, forbidden
//! or malformed fails it, so a mistyped name can never wave a version through. Only
//! an API server that cannot answer now is worth waiting for.

use std::sync::Arc;

use berth_api::{GoldenSetSpec, golden};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};

use super::{GoldenCheck, GoldenGate, VersionId};

/// What one read of the golden set gives.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenFetch {
    /// The gate for the canary: the check, or why it fails outright.
    Gate(GoldenGate),
    /// The API server could not answer: hold the canary back and ask again.
    Retry(String),
}

pub async fn fetch(client: &Client, namespace: &str, spec: &GoldenSetSpec, version: VersionId) -> GoldenFetch {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let name = &spec.config_map;
    let check = match api.get(name).await {
        Ok(cm) => check_from(&cm, namespace, spec),
        Err(kube::Error::Api(status)) if matches!(status.code, 400..=499) && status.code != 429 => Err(format!(
            "reading ConfigMap {namespace}/{name} (spec.rollout.goldenSet.configMap): {} {}",
            status.code, status.message
        )),
        Err(e) => return GoldenFetch::Retry(format!("reading ConfigMap {namespace}/{name}: {e}")),
    };
    GoldenFetch::Gate(GoldenGate { version, check: check.map(Arc::new) })
}

/// The check a ConfigMap holds under `spec.key`.
pub fn check_from(cm: &ConfigMap, namespace: &str, spec: &GoldenSetSpec) -> Result<GoldenCheck, String> {
    let name = &spec.config_map;
    let source = format!("ConfigMap {namespace}/{name} key {:?}", spec.key);
    let text = cm.data.as_ref().and_then(|d| d.get(&spec.key)).ok_or_else(|| {
        let keys: Vec<&str> = cm.data.iter().flat_map(|d| d.keys().map(String::as_str)).collect();
        format!("{source} (spec.rollout.goldenSet.key) is not there; it has {keys:?}")
    })?;
    let set = golden::parse(text).map_err(|e| format!("{source}: {e}"))?;
    Ok(GoldenCheck { source, set, min_accuracy: spec.min_accuracy, min_similarity: spec.min_similarity })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec() -> GoldenSetSpec {
        serde_json::from_value(serde_json::json!({"configMap": "golden"})).unwrap()
    }

    fn cm(key: &str, value: &str) -> ConfigMap {
        ConfigMap { data: Some(BTreeMap::from([(key.to_string(), value.to_string())])), ..Default::default() }
    }

    #[test]
    fn the_default_key_holds_the_set() {
        let check = check_from(&cm("golden.jsonl", r#"{"text":"good","label":"pos"}"#), "ns", &spec()).unwrap();
        assert_eq!(check.set.len(), 1);
        assert_eq!((check.min_accuracy, check.min_similarity), (0.9, 0.98));
        assert_eq!(check.source, r#"ConfigMap ns/golden key "golden.jsonl""#);
    }

    #[test]
    fn a_missing_key_or_a_bad_line_is_named() {
        let err = check_from(&cm("other", "x"), "ns", &spec()).unwrap_err();
        assert!(err.contains("spec.rollout.goldenSet.key") && err.contains(r#"["other"]"#), "{err}");
        let err = check_from(&cm("golden.jsonl", "{\"text\":1}"), "ns", &spec()).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
