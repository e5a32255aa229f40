//! The CustomResourceDefinition, generated from the types (never written by hand).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::spec::BertModel;

/// The CRD as the API server should store it.
pub fn crd() -> CustomResourceDefinition {
    BertModel::crd()
}

/// The CRD as YAML, exactly what `crds/bertmodels.berth.dev.yaml` holds.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&crd())
}

/// The `openAPIV3Schema` of the served version, as JSON, for offline validation.
pub fn openapi_schema() -> serde_json::Value {
    let crd = crd();
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(serde_json::Value::Null)
}
