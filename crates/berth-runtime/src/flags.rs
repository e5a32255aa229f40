//! Command-line flags whose values are berth-api's enums (log format, truncation,
//! pooling, ...): berth-api keeps no clap, so the binaries read them through this.

use std::str::FromStr;

use berth_api::serve::FlagValueError;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// A flag whose values are one of berth-api's enums: the names in `--help` and in
/// clap's error, the enum's own `FromStr` to read them.
pub fn flag<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = FlagValueError> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names.iter().copied()).try_map(|name| name.parse::<T>())
}
