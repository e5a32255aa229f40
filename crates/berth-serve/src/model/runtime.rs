//! The process-wide ONNX Runtime environment. ONNX Runtime allows one per
//! process, and `ort` only keeps a weak reference to it, so it lives here for
//! the life of the process.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use super::LoadError;

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// The environment, created on first use from `library` (or `ORT_DYLIB_PATH`).
/// Loading the library is checked up front so a missing or wrong library is
/// a load error of the version, not a panic inside `ort`.
pub fn environment(library: Option<&Path>) -> Result<Environment, LoadError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env.clone());
    }
    let _guard = INIT.lock().map_err(|_| LoadError::Runtime("initialisation lock poisoned".into()))?;
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env.clone());
    }
    let path: PathBuf = match library {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("ORT_DYLIB_PATH") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("libonnxruntime.so"),
        },
    };
    let env = ort::init_from(&path)
        .map_err(|e| LoadError::Runtime(format!("loading {}: {e}", path.display())))?
        .with_name("berth-serve")
        .build()
        .map_err(|e| LoadError::Runtime(e.to_string()))?;
    Ok(ENVIRONMENT.get_or_init(|| env).clone())
}
