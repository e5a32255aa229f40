//! What the serving pods may do in the API: read their own BertModel and, when
//! `rollout.goldenSet` names one, get that one ConfigMap; nothing else.
//! `resourceNames` restricts get; list and watch honour it only with a
//! `metadata.name` field selector, which is how berth-serve watches.

use berth_api::BertModel;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::ResourceExt;

use super::{BuildError, child_meta, serve_account_name};

pub fn service_account(model: &BertModel) -> Result<ServiceAccount, BuildError> {
    Ok(ServiceAccount {
        metadata: child_meta(model, serve_account_name(&model.name_any()))?,
        ..ServiceAccount::default()
    })
}

pub fn role(model: &BertModel) -> Result<Role, BuildError> {
    let name = model.name_any();
    let mut rules = vec![PolicyRule {
        api_groups: Some(vec!["berth.dev".into()]),
        resources: Some(vec!["bertmodels".into()]),
        resource_names: Some(vec![name.clone()]),
        verbs: vec!["get".into(), "list".into(), "watch".into()],
        ..PolicyRule::default()
    }];
    if let Some(golden) = &model.spec.rollout.golden_set {
        // Read once per canary, when it loads: get is enough.
        rules.push(PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".into()]),
            resource_names: Some(vec![golden.config_map.clone()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        });
    }
    Ok(Role { metadata: child_meta(model, serve_account_name(&name))?, rules: Some(rules) })
}

pub fn role_binding(model: &BertModel) -> Result<RoleBinding, BuildError> {
    let account = serve_account_name(&model.name_any());
    let metadata = child_meta(model, account.clone())?;
    Ok(RoleBinding {
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: account.clone(),
            namespace: metadata.namespace.clone(),
            ..Subject::default()
        }]),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: account },
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testing::{SENTIMENT, model};

    #[test]
    fn pods_read_only_their_own_model() {
        let m = model(SENTIMENT);
        let role = role(&m).unwrap_or_default();
        let rules = role.rules.unwrap_or_default();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].resource_names, Some(vec!["sentiment".to_string()]));
        assert_eq!(rules[0].verbs, ["get", "list", "watch"]);
        let binding = role_binding(&m).unwrap_or_default();
        assert_eq!(binding.role_ref.name, "sentiment-berth-serve");
        let subjects = binding.subjects.unwrap_or_default();
        assert_eq!(subjects[0].namespace.as_deref(), Some("ml"));
        assert_eq!(service_account(&m).map(|s| s.metadata.name), Ok(Some("sentiment-berth-serve".into())));
    }

    #[test]
    fn pods_get_only_the_golden_set_config_map() {
        let mut m = model(SENTIMENT);
        m.spec.rollout.golden_set = serde_json::from_value(serde_json::json!({"configMap": "sentiment-golden"})).ok();
        let rules = role(&m).unwrap_or_default().rules.unwrap_or_default();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].resources, Some(vec!["configmaps".to_string()]));
        assert_eq!(rules[1].resource_names, Some(vec!["sentiment-golden".to_string()]));
        assert_eq!(rules[1].verbs, ["get"]);
    }
}
