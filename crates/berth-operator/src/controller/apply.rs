//! The apply step: every child by server-side apply with one field manager and force,
//! so the operator owns exactly the fields it sets and a re-apply of the same object
//! changes nothing (no new resourceVersion).

use std::fmt::Debug;

use berth_api::BertModel;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::build::{self, BuildConfig};
use crate::controller::error::ReconcileError;

pub const FIELD_MANAGER: &str = "berth-operator";

async fn apply<K>(client: &Client, namespace: &str, object: K) -> Result<K, ReconcileError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + k8s_openapi::Resource
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&object)).await.map_err(|source| ReconcileError::Apply {
        kind: <K as k8s_openapi::Resource>::KIND,
        name,
        source,
    })
}

/// Apply every child; returns the Deployment as stored (for its ready replicas).
pub async fn apply_children(
    client: &Client,
    model: &BertModel,
    config: &BuildConfig,
) -> Result<Deployment, ReconcileError> {
    let namespace = model.namespace().ok_or(ReconcileError::NoNamespace)?;
    apply::<ServiceAccount>(client, &namespace, build::access::service_account(model)?).await?;
    apply::<Role>(client, &namespace, build::access::role(model)?).await?;
    apply::<RoleBinding>(client, &namespace, build::access::role_binding(model)?).await?;
    apply::<Service>(client, &namespace, build::service(model)?).await?;
    apply::<PodDisruptionBudget>(client, &namespace, build::pod_disruption_budget(model)?).await?;
    apply::<Deployment>(client, &namespace, build::deployment(model, config)?).await
}
