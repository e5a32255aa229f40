//! Pure builders of the objects a BertModel owns. Each returns the complete desired
//! object (server-side apply sends exactly this), labelled with the model's selector
//! labels and owned by the model (controller=true) so deleting it collects them.

pub mod access;
pub mod deployment;
pub mod pdb;
pub mod service;

use std::collections::BTreeMap;
use std::fmt::Debug;

use berth_api::BertModel;
use berth_api::labels::{MANAGED_BY_LABEL, MANAGER, selector_labels};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// Declares [`Children`] and its kind list from one field list, so the struct, the
/// kinds the controller `owns` and (by destructuring without `..`) the apply step and
/// `render` cannot drift: a new field fails to compile until it is built and applied,
/// and is watched as soon as it is declared.
macro_rules! children {
    ($($(#[$doc:meta])* $field:ident: $kind:ty),+ $(,)?) => {
        /// Every object a BertModel owns, fields in the order they are applied.
        #[derive(Debug, Clone)]
        pub struct Children {
            $($(#[$doc])* pub $field: $kind,)+
        }

        impl Children {
            /// Folds `visitor.kind::<K>()` over the child kinds, in field order.
            pub fn visit_kinds<V: KindVisitor>(visitor: V) -> V {
                $(let visitor = visitor.kind::<$kind>();)+
                visitor
            }
        }

        $(impl ChildKind for $kind {})+
    };
}

children! {
    service_account: ServiceAccount,
    role: Role,
    role_binding: RoleBinding,
    service: Service,
    /// The PodDisruptionBudget.
    pdb: PodDisruptionBudget,
    /// Last: the pods start once what they need (account, rights) exists.
    deployment: Deployment,
}

/// What the controller needs of a child kind to apply and watch it; implemented by
/// the kinds of `Children` only.
pub trait ChildKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + k8s_openapi::Resource
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

/// Visits the child kinds by type (see [`Children::visit_kinds`]); by value, so a
/// builder such as kube-runtime's `Controller` can be threaded through.
pub trait KindVisitor: Sized {
    fn kind<K: ChildKind>(self) -> Self;
}

impl Children {
    /// The complete desired children of `model`.
    pub fn build(model: &BertModel, config: &BuildConfig) -> Result<Self, BuildError> {
        Ok(Self {
            service_account: access::service_account(model)?,
            role: access::role(model)?,
            role_binding: access::role_binding(model)?,
            service: service(model)?,
            pdb: pod_disruption_budget(model)?,
            deployment: deployment(model, config)?,
        })
    }

    /// Every child as JSON, in the order they are applied (`berth-operator render`).
    pub fn to_values(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let Self { service_account, role, role_binding, service, pdb, deployment } = self;
        Ok(vec![
            serde_json::to_value(service_account)?,
            serde_json::to_value(role)?,
            serde_json::to_value(role_binding)?,
            serde_json::to_value(service)?,
            serde_json::to_value(pdb)?,
            serde_json::to_value(deployment)?,
        ])
    }
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
mod tests {
    use super::*;
    use crate::build::testing::{SENTIMENT, model};

    struct Kinds(Vec<&'static str>);

    impl KindVisitor for Kinds {
        fn kind<K: ChildKind>(mut self) -> Self {
            self.0.push(<K as k8s_openapi::Resource>::KIND);
            self
        }
    }

    #[test]
    fn the_kinds_visited_are_the_children_built() -> Result<(), Box<dyn std::error::Error>> {
        let config = BuildConfig { serve_image: "img".into() };
        let values = Children::build(&model(SENTIMENT), &config)?.to_values()?;
        let built: Vec<&str> = values.iter().filter_map(|v| v["kind"].as_str()).collect();
        let visited = Children::visit_kinds(Kinds(Vec::new()));
        assert_eq!(built, visited.0);
        assert_eq!(built, ["ServiceAccount", "Role", "RoleBinding", "Service", "PodDisruptionBudget", "Deployment"]);
        Ok(())
    }
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
