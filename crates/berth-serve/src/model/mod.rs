//! Reading one version directory into something that can run: the manifest
//! check, the task from `config.json`, the tokenizer, the ONNX Runtime
//! environment and the graph signature rules every backend's graph is checked
//! against (the sessions themselves are `engine::backend`'s).

pub mod error;
pub mod hf_config;
pub mod manifest;
pub mod pooling;
pub mod runtime;
pub mod signature;
pub mod tokenizer;

pub use error::LoadError;
pub use hf_config::{ModelInfo, Task};
pub use pooling::PoolingMode;
pub use signature::Signature;
pub use tokenizer::{Encoded, TextTokenizer, TokenizeError};
