//! The CRD's `source.uri` pattern and `SourceLocation`'s parser accept the same
//! URIs, and every parsed location prints back to a URI that parses to itself.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on broken fixtures by design

use berth_api::SourceLocation;
use berth_api::spec::SOURCE_URI_PATTERN;
use proptest::prelude::*;

fn pattern_accepts(uri: &str) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": SOURCE_URI_PATTERN});
    jsonschema::draft4::new(&schema).expect("the pattern compiles").is_valid(&serde_json::json!(uri))
}

/// URI-ish strings: a scheme from a list with near misses, then path characters that
/// include the separators and whitespace the rules are about.
fn uri_like() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec!["file", "pvc", "s3", "gs", "az", "http", "S3", "", "azblob"]);
    let sep = prop::sample::select(vec!["://", ":/", "//", ""]);
    let rest = "[a-z0-9/ .\t:_-]{0,12}";
    (scheme, sep, rest).prop_map(|(scheme, sep, rest)| format!("{scheme}{sep}{rest}"))
}

#[test]
fn samples_agree() {
    for uri in ["file:///m", "pvc://c", "pvc://c/", "s3://b/p/q", "gs://b", "az://c/p"] {
        assert!(pattern_accepts(uri) && uri.parse::<SourceLocation>().is_ok(), "{uri} should be accepted");
    }
    for uri in ["file://", "pvc:///p", "s3://", "gs:///p", "ftp://x", "https://h/m", "s3://a b", "models/m"] {
        assert!(!pattern_accepts(uri) && uri.parse::<SourceLocation>().is_err(), "{uri} should be rejected");
    }
}

proptest! {
    #[test]
    fn pattern_and_parser_agree(uri in uri_like()) {
        prop_assert_eq!(pattern_accepts(&uri), uri.parse::<SourceLocation>().is_ok(), "{:?}", uri);
    }

    #[test]
    fn display_parses_back_to_the_same_location(uri in uri_like()) {
        if let Ok(location) = uri.parse::<SourceLocation>() {
            let text = location.to_string();
            prop_assert_eq!(text.parse::<SourceLocation>(), Ok(location));
            // Only an empty prefix loses its slash (`s3://b/` prints as `s3://b`).
            prop_assert!(text == uri || format!("{text}/") == uri, "{:?} -> {:?}", uri, text);
        }
    }
}
