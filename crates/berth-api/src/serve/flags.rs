//! The text of each enum-valued berth-serve flag, defined once: the operator writes it
//! (`Display`), berth-serve's command line reads it (`FromStr`, `NAMES` for `--help`).

use std::fmt;
use std::str::FromStr;

use crate::spec::{Pooling, Task, Truncation};

/// A flag value that is not one of the type's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what}: expected one of {}", .expected.join(", "))]
pub struct FlagValueError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

/// Whether embeddings are L2-normalised (`--normalize`; `spec.serving.normalize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalize {
    /// Normalise when the version directory says so (sentence-transformers'
    /// `modules.json` lists a `Normalize` module, or the manifest sets it).
    #[default]
    Auto,
    Always,
    Never,
}

impl From<Option<bool>> for Normalize {
    /// The CRD's tri-state `normalize` (unset follows the model).
    fn from(value: Option<bool>) -> Self {
        match value {
            None => Self::Auto,
            Some(true) => Self::Always,
            Some(false) => Self::Never,
        }
    }
}

/// berth-serve's log output (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `as_str`, `NAMES`, `Display` and `FromStr` from one table of names per enum, so
/// writer and reader cannot disagree.
macro_rules! flag_values {
    ($($ty:ident $what:literal { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl $ty {
            /// Every accepted value, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = FlagValueError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(FlagValueError { what: $what, value: value.to_string(), expected: Self::NAMES }),
                }
            }
        }
    )+};
}

flag_values! {
    Truncation "truncation" { Truncate => "truncate", Reject => "reject" }
    Pooling "pooling" { Auto => "auto", Mean => "mean", Cls => "cls" }
    Task "task" { Embedding => "embedding", Classification => "classification" }
    Normalize "normalize setting" { Auto => "auto", Always => "true", Never => "false" }
    LogFormat "log format" { Text => "text", Json => "json" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: FromStr<Err = FlagValueError> + fmt::Display + PartialEq + fmt::Debug>(names: &[&str]) {
        for name in names {
            let parsed: T = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.to_string(), *name);
        }
    }

    #[test]
    fn every_name_round_trips() {
        round_trips::<Truncation>(Truncation::NAMES);
        round_trips::<Pooling>(Pooling::NAMES);
        round_trips::<Task>(Task::NAMES);
        round_trips::<Normalize>(Normalize::NAMES);
        round_trips::<LogFormat>(LogFormat::NAMES);
    }

    #[test]
    fn flag_names_match_the_crd_spelling() {
        // The CRD's camelCase serde names and the flags are the same words.
        for pooling in [Pooling::Auto, Pooling::Mean, Pooling::Cls] {
            assert_eq!(serde_json::to_value(pooling).ok(), Some(serde_json::json!(pooling.as_str())));
        }
        for truncation in [Truncation::Truncate, Truncation::Reject] {
            assert_eq!(serde_json::to_value(truncation).ok(), Some(serde_json::json!(truncation.as_str())));
        }
        for task in [Task::Embedding, Task::Classification] {
            assert_eq!(serde_json::to_value(task).ok(), Some(serde_json::json!(task.as_str())));
        }
    }

    #[test]
    fn unknown_values_list_the_choices() {
        let err = "max".parse::<Pooling>().unwrap_err().to_string();
        assert!(err.contains("\"max\" is not a valid pooling") && err.contains("auto, mean, cls"), "{err}");
        assert_eq!(Normalize::from(Some(false)), Normalize::Never);
        assert_eq!(Normalize::from(None), Normalize::Auto);
    }
}
