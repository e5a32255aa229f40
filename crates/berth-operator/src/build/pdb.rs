//! At most one serving pod down at a time by voluntary disruption (drains, upgrades).

use berth_api::BertModel;
use berth_api::labels::selector_labels;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{BuildError, child_meta};

pub fn pod_disruption_budget(model: &BertModel) -> Result<PodDisruptionBudget, BuildError> {
    let name = model.name_any();
    Ok(PodDisruptionBudget {
        metadata: child_meta(model, name.clone())?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(selector_labels(&name)), ..LabelSelector::default() }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testing::{SENTIMENT, model};

    #[test]
    fn one_pod_at_a_time() {
        let pdb = pod_disruption_budget(&model(SENTIMENT)).unwrap_or_default();
        let spec = pdb.spec.unwrap_or_default();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert!(pdb.metadata.owner_references.is_some());
    }
}
