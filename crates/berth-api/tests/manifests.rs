//! Every example manifest is valid against the generated CRD schema and round-trips
//! through the Rust types; every deliberately bad manifest is rejected with a message
//! that names the offending field.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers panic on broken fixtures by design

use std::path::{Path, PathBuf};

use berth_api::{BertModel, validate_spec};
use jsonschema::error::ValidationErrorKind;
use serde::Deserialize;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// All documents of a YAML file, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read manifest");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// JSON pointer `/spec/rollout/steps/1/weight` -> `spec.rollout.steps[1].weight`.
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').filter(|s| !s.is_empty()) {
        if segment.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// Validate one object the way the API server's schema check would, returning
/// `path: message` lines.
fn schema_errors(object: &Value) -> Vec<String> {
    let schema = berth_api::crd::openapi_schema();
    let validator = jsonschema::draft4::new(&schema).expect("the CRD schema compiles");
    validator
        .iter_errors(object)
        .map(|error| {
            let mut path = field_path(&error.instance_path().to_string());
            if let ValidationErrorKind::Required { property } = error.kind() {
                let name = property.as_str().unwrap_or_default();
                path = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
            }
            format!("{path}: {error}")
        })
        .collect()
}

/// Schema errors, then (if the schema passed) the Rust mirror of the CEL rules.
fn all_errors(object: &Value) -> Vec<String> {
    let errors = schema_errors(object);
    if !errors.is_empty() {
        return errors;
    }
    match serde_json::from_value::<BertModel>(object.clone()) {
        Err(e) => vec![format!("decode: {e}")],
        Ok(model) => match validate_spec(&model.spec) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        },
    }
}

#[test]
fn every_example_is_valid_and_round_trips() {
    let files = yaml_files(&repo_root().join("deploy/examples"));
    let mut models = 0;
    for file in &files {
        for doc in documents(file) {
            if doc["kind"] != "BertModel" {
                continue;
            }
            models += 1;
            let errors = all_errors(&doc);
            assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
            let model: BertModel = serde_json::from_value(doc.clone()).expect("decodes");
            let encoded = serde_json::to_value(&model).expect("encodes");
            let again: BertModel = serde_json::from_value(encoded.clone()).expect("decodes again");
            assert_eq!(model.spec, again.spec, "{} does not round-trip", file.display());
            assert_eq!(model.metadata, again.metadata);
            // What the user wrote survives (defaults only add fields).
            assert_eq!(encoded["spec"]["version"], doc["spec"]["version"]);
            assert_eq!(encoded["spec"]["source"]["uri"], doc["spec"]["source"]["uri"]);
            assert!(schema_errors(&encoded).is_empty(), "re-encoded {} is invalid", file.display());
        }
    }
    assert!(models >= 2, "expected at least an embedding and a classification example, found {models}");
}

#[test]
fn every_bad_manifest_is_rejected_naming_its_field() {
    let files = yaml_files(&repo_root().join("crates/berth-api/tests/bad"));
    assert!(files.len() >= 10, "the bad manifests are missing");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no '# expect: <field>' line", file.display()))
            .trim()
            .to_string();
        let doc = documents(&file).remove(0);
        let errors = all_errors(&doc);
        assert!(!errors.is_empty(), "{} was accepted", file.display());
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{expected}:"))),
            "{}: no error names {expected}: {errors:#?}",
            file.display()
        );
    }
}

#[test]
fn committed_crd_matches_the_types() {
    let committed = std::fs::read_to_string(repo_root().join("crds/bertmodels.berth.dev.yaml")).expect("crds/ exists");
    let generated = berth_api::crd::crd_yaml().expect("CRD serialises");
    assert!(committed == generated, "crds/bertmodels.berth.dev.yaml is stale: run `make crds`");
}

#[test]
fn field_paths_read_like_the_api_server() {
    assert_eq!(field_path("/spec/rollout/steps/1/weight"), "spec.rollout.steps[1].weight");
    assert_eq!(field_path(""), "");
}
