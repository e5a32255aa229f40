//! Step 1, validate: the spec against `berth_api::validate_spec` (the schema's CEL
//! rules again, for API servers that do not run CEL) and the metadata the other steps
//! need. Pure.

use berth_api::{BertModel, validate_spec};
use kube::{Resource, ResourceExt};

/// Which model a reconcile is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub namespace: String,
    pub generation: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Build, apply and roll out.
    Valid(Target),
    /// Report `message` in the status and wait for the spec to change.
    Invalid { target: Target, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("the BertModel has no namespace")]
    NoNamespace,
}

pub fn validate(model: &BertModel) -> Result<Validation, ValidateError> {
    let target = Target {
        name: model.name_any(),
        namespace: model.namespace().ok_or(ValidateError::NoNamespace)?,
        generation: model.meta().generation,
    };
    Ok(match validate_spec(&model.spec) {
        Ok(()) => Validation::Valid(target),
        Err(errors) => Validation::Invalid { target, message: errors.to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(load_timeout: &str, namespace: Option<&str>) -> Result<BertModel, serde_json::Error> {
        let mut model: BertModel = serde_json::from_value(serde_json::json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "BertModel",
            "metadata": {"name": "m", "generation": 2},
            "spec": {"version": "1", "source": {"uri": "file:///m"}, "rollout": {"loadTimeout": load_timeout}},
        }))?;
        model.metadata.namespace = namespace.map(str::to_string);
        Ok(model)
    }

    #[test]
    fn valid_invalid_and_namespaceless() -> Result<(), serde_json::Error> {
        let target = Target { name: "m".into(), namespace: "ml".into(), generation: Some(2) };
        assert_eq!(validate(&model("5m", Some("ml"))?), Ok(Validation::Valid(target)));
        let invalid = validate(&model("0s", Some("ml"))?);
        assert!(
            matches!(&invalid, Ok(Validation::Invalid { message, .. }) if message.contains("spec.rollout.loadTimeout")),
            "{invalid:?}"
        );
        assert_eq!(validate(&model("5m", None)?), Err(ValidateError::NoNamespace));
        Ok(())
    }
}
