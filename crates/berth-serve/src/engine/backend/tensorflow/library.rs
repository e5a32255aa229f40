//! The TensorFlow C library, dlopened once per process. The build links it at
//! run time (`tensorflow_runtime_linking`), so a deployment without it still
//! serves ONNX versions; a SavedModel version then fails to load with an error
//! that says where the library is looked for, instead of the process failing
//! to start.

use std::sync::{Mutex, OnceLock};

use crate::model::LoadError;

static LOADED: OnceLock<()> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Loads `libtensorflow.so` from `TENSORFLOW_DIR` or `LD_LIBRARY_PATH` unless
/// that has been done. Every other `tensorflow` call panics before this has
/// succeeded. A failure is not remembered: a later version retries (the
/// library may have been installed meanwhile).
pub fn ensure_loaded() -> Result<(), LoadError> {
    if LOADED.get().is_some() {
        return Ok(());
    }
    // `load()` replaces the process-wide handle; two loads at once must not race.
    let _guard = INIT.lock().map_err(|_| LoadError::Runtime("initialisation lock poisoned".into()))?;
    if LOADED.get().is_some() {
        return Ok(());
    }
    tensorflow::library::load().map_err(LoadError::TensorflowLibrary)?;
    let _ = LOADED.set(());
    Ok(())
}
