//! The optional `berth-manifest.json`: sha256 sums of the version's files,
//! verified before anything is loaded, plus optional task hints.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::LoadError;

pub const MANIFEST_FILE: &str = "berth-manifest.json";

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Manifest {
    /// File name (relative to the version directory) -> lowercase hex sha256.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// `embedding` or `classification`; overrides what config.json implies.
    #[serde(default)]
    pub task: Option<String>,
    /// Class labels in output order; overrides config.json's id2label.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// L2-normalise embeddings (used when normalisation is `auto`).
    #[serde(default)]
    pub normalize: Option<bool>,
    /// `mean` or `cls` (used when pooling is `auto`).
    #[serde(default)]
    pub pooling: Option<String>,
    /// Set by `scripts/quantize_int8.py`: how the version was quantized and the sha256
    /// of the model.onnx it was made from. Recorded for people and logs; the version is
    /// served like any other.
    #[serde(default)]
    pub quantized: Option<Quantized>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Quantized {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub weights: String,
    #[serde(default)]
    pub source_model_sha256: String,
}

/// Reads and verifies the manifest when there is one. A missing manifest is
/// fine (returns the default); a malformed one or a wrong sum is an error.
pub fn load_and_verify(dir: &Path) -> Result<Manifest, LoadError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(LoadError::io(path, e)),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| LoadError::Manifest { path: path.clone(), message: e.to_string() })?;
    for (file, expected) in &manifest.files {
        // A manifest must not point outside its own directory.
        if file.contains("..") || Path::new(file).is_absolute() {
            return Err(LoadError::Manifest {
                path: path.clone(),
                message: format!("file name {file:?} leaves the version directory"),
            });
        }
        let actual = sha256_file(&dir.join(file))?;
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(LoadError::Checksum { file: file.clone(), expected: expected.clone(), actual });
        }
    }
    Ok(manifest)
}

pub fn sha256_file(path: &Path) -> Result<String, LoadError> {
    let mut file = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| LoadError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) {
        std::fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn missing_manifest_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let m = load_and_verify(dir.path()).unwrap();
        assert!(m.files.is_empty());
    }

    #[test]
    fn a_quantized_version_says_of_what() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = r#"{"files": {}, "quantized": {"method": "onnxruntime dynamic quantization",
            "weights": "int8, per channel", "source_model_sha256": "ab12"}}"#;
        write(dir.path(), MANIFEST_FILE, manifest);
        let q = load_and_verify(dir.path()).unwrap().quantized.unwrap();
        assert_eq!((q.weights.as_str(), q.source_model_sha256.as_str()), ("int8, per channel", "ab12"));
    }

    #[test]
    fn matching_and_mismatching_sums() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "model.onnx", "abc");
        // sha256("abc")
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        write(dir.path(), MANIFEST_FILE, &format!(r#"{{"files": {{"model.onnx": "{good}"}}}}"#));
        load_and_verify(dir.path()).unwrap();

        write(dir.path(), "model.onnx", "abd");
        let err = load_and_verify(dir.path()).unwrap_err();
        assert_eq!(err.category(), "checksum");
        assert!(err.to_string().contains("model.onnx"), "{err}");
    }

    #[test]
    fn malformed_manifest_and_escaping_paths_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), MANIFEST_FILE, "{not json");
        assert_eq!(load_and_verify(dir.path()).unwrap_err().category(), "manifest");
        write(dir.path(), MANIFEST_FILE, r#"{"files": {"../x": "00"}}"#);
        assert_eq!(load_and_verify(dir.path()).unwrap_err().category(), "manifest");
        write(dir.path(), MANIFEST_FILE, r#"{"files": {"gone.bin": "00"}}"#);
        assert_eq!(load_and_verify(dir.path()).unwrap_err().category(), "io");
    }
}
