//! Pure builders of the objects a BertModel owns. Each returns the complete desired
//! object (server-side apply sends exactly this), labelled with the model's selector
//! labels and owned by the model (controller=true) so deleting it collects them.

pub mod access;
pub mod deployment;
pub mod pdb;
pub mod service;

use std::collections::BTreeMap;

use berth_api::BertModel;
use berth_api::labels::{MANAGED_BY_LABEL, MANAGER, selector_labels};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

pub use deployment::deployment;
pub use pdb::pod_disruption_budget;
pub use service::service;

/// Settings of the operator install that shape every model's children.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    /// Serving image, unless the model names its own (`spec.image`).
    pub serve_image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("the BertModel has no {0} (it must be read from the API server)")]
    MissingMetadata(&'static str),
}

impl BuildError {
    pub fn category(&self) -> &'static str {
        "build"
    }
}

/// Every child of `model` as JSON, in the order they are applied.
pub fn children(model: &BertModel, config: &BuildConfig) -> Result<Vec<serde_json::Value>, RenderError> {
    let to = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(RenderError::Serialize);
    Ok(vec![
        to(serde_json::to_value(access::service_account(model)?))?,
        to(serde_json::to_value(access::role(model)?))?,
        to(serde_json::to_value(access::role_binding(model)?))?,
        to(serde_json::to_value(service(model)?))?,
        to(serde_json::to_value(pod_disruption_budget(model)?))?,
        to(serde_json::to_value(deployment(model, config)?))?,
    ])
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("serialising a child: {0}")]
    Serialize(serde_json::Error),
}

/// Name of the ServiceAccount, Role and RoleBinding of a model's pods.
pub fn serve_account_name(model: &str) -> String {
    format!("{model}-berth-serve")
}

/// Labels on every child: the pod selector labels plus who manages it.
pub fn labels(model: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(model);
    labels.insert(MANAGED_BY_LABEL.to_string(), MANAGER.to_string());
    labels
}

fn owner(model: &BertModel) -> Result<OwnerReference, BuildError> {
    model.controller_owner_ref(&()).ok_or(BuildError::MissingMetadata("metadata.uid"))
}

/// Metadata of a child named `name` in the model's namespace.
pub fn child_meta(model: &BertModel, name: String) -> Result<ObjectMeta, BuildError> {
    let namespace = model.namespace().ok_or(BuildError::MissingMetadata("metadata.namespace"))?;
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(namespace),
        labels: Some(labels(&model.name_any())),
        owner_references: Some(vec![owner(model)?]),
        ..ObjectMeta::default()
    })
}

#[cfg(test)]
pub(crate) mod testing {
    use berth_api::BertModel;

    pub fn model(yaml: &str) -> BertModel {
        let mut model: BertModel = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("model: {e}"));
        model.metadata.uid = Some("uid-1".into());
        model.metadata.namespace.get_or_insert_with(|| "ml".into());
        model
    }

    pub const SENTIMENT: &str = r#"
apiVersion: berth.dev/v1alpha1
kind: BertModel
metadata: {name: sentiment, namespace: ml}
spec:
  version: "3"
  source: {uri: "file:///models/sentiment", secretName: creds}
  replicas: 3
  serving: {maxBatchSize: 16, maxBatchDelay: 5ms, threads: 2}
"#;
}
