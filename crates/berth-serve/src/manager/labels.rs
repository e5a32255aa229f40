//! Version labels (TF Serving's `version_label`, `/labels/{l}`): names that
//! follow a rollout, so clients can ask for "the canary" without knowing its
//! number. Controlled mode takes them from the BertModel's
//! `status.stableVersion` / `status.canaryVersion`; standalone mode from
//! `--version_labels`. Without an explicit `stable`, it means the version that
//! takes the most default traffic, so a plain server answers `stable` too.

use std::collections::BTreeMap;

use berth_api::BertModelStatus;

use super::{InvalidVersion, VersionId};

pub const STABLE: &str = "stable";
pub const CANARY: &str = "canary";

/// Label -> version, as the source of desired versions set them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionLabels(BTreeMap<String, VersionId>);

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("version label {0:?} is not LABEL=VERSION")]
    Syntax(String),
    #[error("version label {label:?}: {source}")]
    Version {
        label: String,
        #[source]
        source: InvalidVersion,
    },
}

impl VersionLabels {
    pub fn new(labels: BTreeMap<String, VersionId>) -> Self {
        Self(labels)
    }

    /// What the operator marks: `stableVersion` and `canaryVersion`. A name
    /// that is not a valid version is left out (it could not be served).
    pub fn from_status(status: &BertModelStatus) -> Self {
        let pairs = [(STABLE, &status.stable_version), (CANARY, &status.canary_version)];
        Self(
            pairs.into_iter().filter_map(|(label, v)| Some((label.to_string(), v.as_deref()?.parse().ok()?))).collect(),
        )
    }

    /// The label's version; `stable` falls back to `default` (the version
    /// taking the most default traffic) when nobody set it.
    pub fn resolve(&self, label: &str, default: Option<&VersionId>) -> Option<VersionId> {
        match self.0.get(label) {
            Some(v) => Some(v.clone()),
            None if label == STABLE => default.cloned(),
            None => None,
        }
    }
}

impl std::str::FromStr for VersionLabels {
    type Err = LabelError;

    /// `stable=1,canary=2` (empty: no labels).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut labels = BTreeMap::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (label, version) = item
                .split_once('=')
                .filter(|(l, v)| !l.trim().is_empty() && !v.trim().is_empty())
                .ok_or_else(|| LabelError::Syntax(item.to_string()))?;
            let label = label.trim().to_string();
            let version =
                version.trim().parse().map_err(|source| LabelError::Version { label: label.clone(), source })?;
            labels.insert(label, version);
        }
        Ok(Self(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VersionId {
        s.parse().unwrap()
    }

    #[test]
    fn status_marks_stable_and_canary() {
        let status = BertModelStatus {
            stable_version: Some("2".into()),
            canary_version: Some("3".into()),
            ..Default::default()
        };
        let labels = VersionLabels::from_status(&status);
        assert_eq!(labels.resolve(STABLE, Some(&v("3"))), Some(v("2")));
        assert_eq!(labels.resolve(CANARY, None), Some(v("3")));
        assert_eq!(labels.resolve("beta", None), None);
        // No canary in the status: the label does not resolve.
        let status = BertModelStatus { stable_version: Some("2".into()), ..Default::default() };
        assert_eq!(VersionLabels::from_status(&status).resolve(CANARY, Some(&v("2"))), None);
    }

    #[test]
    fn stable_defaults_to_the_default_version() {
        let none = VersionLabels::default();
        assert_eq!(none.resolve(STABLE, Some(&v("7"))), Some(v("7")));
        assert_eq!(none.resolve(STABLE, None), None);
        assert_eq!(none.resolve(CANARY, Some(&v("7"))), None);
    }

    #[test]
    fn flag_syntax() {
        let labels: VersionLabels = "stable=1, canary=2".parse().unwrap();
        assert_eq!(labels.resolve(CANARY, None), Some(v("2")));
        assert_eq!(labels.resolve(STABLE, Some(&v("9"))), Some(v("1")));
        assert_eq!("".parse::<VersionLabels>().unwrap(), VersionLabels::default());
        for bad in ["stable", "=1", "canary=", "canary=../x"] {
            assert!(bad.parse::<VersionLabels>().is_err(), "{bad}");
        }
    }
}
