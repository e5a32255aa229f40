//! Step 3, apply: every child by server-side apply with one field manager and force,
//! so the operator owns exactly the fields it sets and a re-apply of the same object
//! changes nothing (no new resourceVersion).

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::build::{ChildKind, Children};

/// The children's field manager (the status has its own, `status::FIELD_MANAGER`).
pub const FIELD_MANAGER: &str = "berth-operator";

#[derive(Debug, thiserror::Error)]
#[error("{kind} {name}: {source}")]
pub struct ApplyError {
    pub kind: &'static str,
    pub name: String,
    #[source]
    pub source: kube::Error,
}

/// What apply leaves for the next steps: the Deployment as stored, whose status says
/// how many pods are ready and whether a template change is still rolling.
#[derive(Debug, Clone)]
pub struct Applied {
    pub deployment: Deployment,
}

async fn apply_one<K: ChildKind>(client: &Client, namespace: &str, object: &K) -> Result<K, ApplyError> {
    let name = object.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(object)).await.map_err(|source| ApplyError {
        kind: <K as k8s_openapi::Resource>::KIND,
        name,
        source,
    })
}

/// Apply every child, in field order (the Deployment last). Destructured without `..`:
/// a child added to `Children` does not compile until it is applied here.
#[tracing::instrument(name = "apply", skip_all)]
pub async fn apply(client: &Client, namespace: &str, children: &Children) -> Result<Applied, ApplyError> {
    let Children { service_account, role, role_binding, service, pdb, deployment } = children;
    apply_one(client, namespace, service_account).await?;
    apply_one(client, namespace, role).await?;
    apply_one(client, namespace, role_binding).await?;
    apply_one(client, namespace, service).await?;
    apply_one(client, namespace, pdb).await?;
    let deployment = apply_one(client, namespace, deployment).await?;
    Ok(Applied { deployment })
}
