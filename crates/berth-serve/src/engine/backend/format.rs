//! Which graph a version directory holds.

use std::path::{Path, PathBuf};

use super::onnx::MODEL_FILE;
use crate::model::LoadError;

pub const SAVED_MODEL_FILE: &str = "saved_model.pb";
const VARIABLES_DIR: &str = "variables";
/// Where HuggingFace Hub repositories (sentence-transformers and others) keep the
/// ONNX export, beside `config.json`, the tokenizer and `1_Pooling/`: a snapshot of
/// such a repository works as a version directory as it is.
const HUB_ONNX_FILE: &str = "onnx/model.onnx";

/// The ONNX graph of a version: `model.onnx` (optimum's layout), else
/// `onnx/model.onnx` (the Hub's).
pub fn onnx_file(dir: &Path) -> Option<PathBuf> {
    [MODEL_FILE, HUB_ONNX_FILE].into_iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Onnx,
    SavedModel,
}

impl Format {
    /// The platform name Triton and the V2 metadata use.
    pub fn platform(self) -> &'static str {
        match self {
            Format::Onnx => "onnxruntime_onnx",
            Format::SavedModel => "tensorflow_savedmodel",
        }
    }
}

/// `model.onnx` (or `onnx/model.onnx`), or `saved_model.pb` with its `variables/`. A directory with
/// both is refused rather than guessed at: which one would be served would
/// then depend on the build, and a copy left behind would silently win.
pub fn detect(dir: &Path) -> Result<Format, LoadError> {
    let onnx = onnx_file(dir).is_some();
    let saved = dir.join(SAVED_MODEL_FILE).is_file();
    match (onnx, saved) {
        (true, false) => Ok(Format::Onnx),
        (false, true) if dir.join(VARIABLES_DIR).is_dir() => Ok(Format::SavedModel),
        (false, true) => {
            Err(LoadError::Format(format!("{SAVED_MODEL_FILE} without a {VARIABLES_DIR}/ directory next to it")))
        }
        (true, true) => Err(LoadError::Format(format!(
            "the version directory holds both {MODEL_FILE} and {SAVED_MODEL_FILE}; keep one"
        ))),
        (false, false) => Err(LoadError::io(
            dir.join(MODEL_FILE),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no {MODEL_FILE} (or {HUB_ONNX_FILE}) or {SAVED_MODEL_FILE} in the version directory"),
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str], dirs: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        for d in dirs {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        dir
    }

    #[test]
    fn detects_each_format_and_refuses_ambiguity() {
        assert_eq!(detect(dir_with(&[MODEL_FILE], &[]).path()).unwrap(), Format::Onnx);
        assert_eq!(detect(dir_with(&[SAVED_MODEL_FILE], &[VARIABLES_DIR]).path()).unwrap(), Format::SavedModel);
        let both = detect(dir_with(&[MODEL_FILE, SAVED_MODEL_FILE], &[VARIABLES_DIR]).path()).unwrap_err();
        assert!(both.to_string().contains("both"), "{both}");
        let no_vars = detect(dir_with(&[SAVED_MODEL_FILE], &[]).path()).unwrap_err();
        assert!(no_vars.to_string().contains("variables/"), "{no_vars}");
        let none = detect(dir_with(&["config.json"], &[]).path()).unwrap_err();
        assert!(none.to_string().contains("no model.onnx (or onnx/model.onnx) or saved_model.pb"), "{none}");
        assert_eq!(none.category(), "io");
    }

    #[test]
    fn a_hub_snapshot_has_its_graph_under_onnx() {
        let dir = dir_with(&["config.json", "tokenizer.json", "model.safetensors"], &["onnx"]);
        std::fs::write(dir.path().join(HUB_ONNX_FILE), b"x").unwrap();
        assert_eq!(detect(dir.path()).unwrap(), Format::Onnx);
        assert_eq!(onnx_file(dir.path()), Some(dir.path().join("onnx/model.onnx")));
        // optimum's root file wins over the Hub's folder.
        std::fs::write(dir.path().join(MODEL_FILE), b"x").unwrap();
        assert_eq!(onnx_file(dir.path()), Some(dir.path().join(MODEL_FILE)));
    }
}
