//! The CRD's patterns for `goldenSet.configMap` and `goldenSet.key` accept exactly what
//! `validate` accepts, so the API server and the operator reject the same names.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on broken fixtures by design

use berth_api::golden::{CONFIG_MAP_KEY_PATTERN, CONFIG_MAP_NAME_PATTERN};
use berth_api::validate::{is_config_map_key, is_dns_subdomain};
use proptest::prelude::*;

fn accepts(pattern: &str, max: usize, text: &str) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": pattern, "minLength": 1, "maxLength": max});
    jsonschema::draft4::new(&schema).expect("the pattern compiles").is_valid(&serde_json::json!(text))
}

#[test]
fn samples_agree() {
    for name in ["golden", "golden-set.v2", "a", "0x", &"a".repeat(63)] {
        assert!(accepts(CONFIG_MAP_NAME_PATTERN, 253, name) && is_dns_subdomain(name), "{name}");
    }
    for name in ["Golden", "a..b", "-a", "a-", ".a", "a_b", &"a".repeat(64), ""] {
        assert!(!accepts(CONFIG_MAP_NAME_PATTERN, 253, name) && !is_dns_subdomain(name), "{name:?}");
    }
    for key in ["golden.jsonl", "A_b-1", ".hidden", "...", "..a"] {
        assert!(accepts(CONFIG_MAP_KEY_PATTERN, 253, key) && is_config_map_key(key), "{key}");
    }
    for key in [".", "..", "a/b", "a b", ""] {
        assert!(!accepts(CONFIG_MAP_KEY_PATTERN, 253, key) && !is_config_map_key(key), "{key:?}");
    }
}

proptest! {
    #[test]
    fn name_pattern_and_validation_agree(name in "[a-zA-Z0-9._-]{0,70}") {
        prop_assert_eq!(accepts(CONFIG_MAP_NAME_PATTERN, 253, &name), is_dns_subdomain(&name), "{:?}", name);
    }

    #[test]
    fn key_pattern_and_validation_agree(key in "[a-zA-Z0-9._/ -]{0,8}") {
        prop_assert_eq!(accepts(CONFIG_MAP_KEY_PATTERN, 253, &key), is_config_map_key(&key), "{:?}", key);
    }
}
