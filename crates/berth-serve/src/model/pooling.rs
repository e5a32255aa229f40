//! How a version's token vectors become one embedding: the mean over the
//! attention mask, or the first token's vector ([CLS]), as BGE, E5-style and many
//! retrieval models are trained. `auto` reads it where sentence-transformers keeps
//! it: `modules.json` names the Pooling module's folder, whose `config.json` sets
//! one `pooling_mode_*` flag. A mode Berth does not implement is a load error, never
//! a silently different embedding.

use std::path::Path;

use serde::Deserialize;

use super::LoadError;
use super::manifest::Manifest;
use berth_api::Pooling;

/// The pooling a loaded embedding version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingMode {
    Mean,
    Cls,
}

impl PoolingMode {
    pub fn name(self) -> &'static str {
        match self {
            PoolingMode::Mean => "mean",
            PoolingMode::Cls => "cls",
        }
    }
}

const ST_POOLING_MODULE: &str = "sentence_transformers.models.Pooling";

/// sentence-transformers' `pooling_mode_*` keys with the mode each means, `None`
/// where Berth has no implementation.
const MODES: [(&str, Option<PoolingMode>); 6] = [
    ("pooling_mode_mean_tokens", Some(PoolingMode::Mean)),
    ("pooling_mode_cls_token", Some(PoolingMode::Cls)),
    ("pooling_mode_max_tokens", None),
    ("pooling_mode_mean_sqrt_len_tokens", None),
    ("pooling_mode_weightedmean_tokens", None),
    ("pooling_mode_lasttoken", None),
];

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

/// The flag `--pooling` (or the BertModel's `serving.pooling`) wins; under `auto` the
/// manifest's `pooling`, then sentence-transformers' files; mean when none says.
pub fn resolve(dir: &Path, manifest: &Manifest, choice: Pooling) -> Result<PoolingMode, LoadError> {
    match choice {
        Pooling::Mean => return Ok(PoolingMode::Mean),
        Pooling::Cls => return Ok(PoolingMode::Cls),
        Pooling::Auto => {}
    }
    match manifest.pooling.as_deref() {
        Some("mean") => return Ok(PoolingMode::Mean),
        Some("cls") => return Ok(PoolingMode::Cls),
        Some(other) => {
            return Err(LoadError::Config(format!("manifest pooling {other:?} is not one of \"mean\", \"cls\"")));
        }
        None => {}
    }
    let modules_path = dir.join("modules.json");
    let modules: Vec<Module> = match std::fs::read_to_string(&modules_path) {
        Ok(text) => {
            serde_json::from_str(&text).map_err(|e| LoadError::Config(format!("{}: {e}", modules_path.display())))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PoolingMode::Mean),
        Err(e) => return Err(LoadError::io(modules_path, e)),
    };
    let Some(module) = modules.iter().find(|m| m.kind == ST_POOLING_MODULE) else {
        return Ok(PoolingMode::Mean);
    };
    // The folder is relative to the version directory and must stay inside it.
    if module.path.contains("..") || Path::new(&module.path).is_absolute() {
        return Err(LoadError::Config(format!(
            "modules.json: Pooling path {:?} leaves the version directory",
            module.path
        )));
    }
    let config_path = dir.join(&module.path).join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| LoadError::io(&config_path, e))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LoadError::Config(format!("{}: {e}", config_path.display())))?;
    let set: Vec<(&str, Option<PoolingMode>)> = MODES
        .into_iter()
        .filter(|(key, _)| config.get(key).and_then(serde_json::Value::as_bool) == Some(true))
        .collect();
    match set[..] {
        [(_, Some(mode))] => Ok(mode),
        [(key, None)] => Err(LoadError::Config(format!(
            "{} sets {key}, which berth-serve does not implement (mean and cls are); --pooling overrides it",
            config_path.display()
        ))),
        [] => Err(LoadError::Config(format!("{} sets no pooling_mode_* flag", config_path.display()))),
        _ => Err(LoadError::Config(format!(
            "{} combines {} (sentence-transformers concatenates them); berth-serve runs one of mean, cls",
            config_path.display(),
            set.iter().map(|(key, _)| *key).collect::<Vec<_>>().join(" + ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULES: &str = r#"[
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]"#;

    fn st_dir(pooling_config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.json"), MODULES).unwrap();
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(dir.path().join("1_Pooling/config.json"), pooling_config).unwrap();
        dir
    }

    fn auto(dir: &Path) -> Result<PoolingMode, LoadError> {
        resolve(dir, &Manifest::default(), Pooling::Auto)
    }

    #[test]
    fn sentence_transformers_config_picks_the_mode() {
        let cls = st_dir(
            r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
        );
        assert_eq!(auto(cls.path()).unwrap(), PoolingMode::Cls);
        let mean =
            st_dir(r#"{"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "include_prompt": true}"#);
        assert_eq!(auto(mean.path()).unwrap(), PoolingMode::Mean);
        // The flag wins over the files.
        assert_eq!(resolve(cls.path(), &Manifest::default(), Pooling::Mean).unwrap(), PoolingMode::Mean);
    }

    #[test]
    fn nothing_said_is_mean_and_the_manifest_counts() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(auto(dir.path()).unwrap(), PoolingMode::Mean);
        let manifest = Manifest { pooling: Some("cls".into()), ..Manifest::default() };
        assert_eq!(resolve(dir.path(), &manifest, Pooling::Auto).unwrap(), PoolingMode::Cls);
        let bad = Manifest { pooling: Some("max".into()), ..Manifest::default() };
        assert!(resolve(dir.path(), &bad, Pooling::Auto).unwrap_err().to_string().contains("\"max\""));
        // modules.json without a Pooling module (a bare Transformer) is mean as well.
        std::fs::write(
            dir.path().join("modules.json"),
            r#"[{"path": "", "type": "sentence_transformers.models.Transformer"}]"#,
        )
        .unwrap();
        assert_eq!(auto(dir.path()).unwrap(), PoolingMode::Mean);
    }

    #[test]
    fn unsupported_or_ambiguous_modes_are_load_errors_naming_the_flag() {
        let max = st_dir(r#"{"pooling_mode_max_tokens": true}"#);
        assert!(auto(max.path()).unwrap_err().to_string().contains("pooling_mode_max_tokens"));
        let both = st_dir(r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#);
        let message = auto(both.path()).unwrap_err().to_string();
        assert!(message.contains("pooling_mode_mean_tokens + pooling_mode_cls_token"), "{message}");
        let none = st_dir(r#"{"word_embedding_dimension": 8}"#);
        assert!(auto(none.path()).unwrap_err().to_string().contains("no pooling_mode"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.json"), MODULES).unwrap();
        assert_eq!(auto(dir.path()).unwrap_err().category(), "io");
        std::fs::write(
            dir.path().join("modules.json"),
            r#"[{"path": "../x", "type": "sentence_transformers.models.Pooling"}]"#,
        )
        .unwrap();
        assert!(auto(dir.path()).unwrap_err().to_string().contains("leaves the version directory"));
    }
}
