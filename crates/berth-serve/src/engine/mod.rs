//! The request path inside one loaded version: a bounded queue, worker
//! threads that each own one backend session (ONNX Runtime or TensorFlow) and
//! batch what is queued, and the task heads that turn graph outputs into answers.

pub mod backend;
pub mod batch;
pub mod error;
pub mod head;
pub mod job;
pub mod load;
pub mod similarity;
pub mod version;
mod worker;

pub use error::InferError;
pub use job::{Output, Row};
pub use version::{IncomingGuard, Version};
