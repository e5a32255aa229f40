//! Session options: TensorFlow's thread pools from the serving config.

use tensorflow::SessionOptions;

use crate::config::ServingConfig;
use crate::model::LoadError;

/// The two fields of `tensorflow.ConfigProto` (tensorflow/core/protobuf/config.proto)
/// berth-serve sets; protobuf readers skip what a message leaves out, so this
/// encodes a valid ConfigProto.
#[derive(Clone, PartialEq, prost::Message)]
struct ConfigProto {
    #[prost(int32, tag = "2")]
    intra_op_parallelism_threads: i32,
    #[prost(int32, tag = "5")]
    inter_op_parallelism_threads: i32,
}

/// One SavedModel session serves all of a version's workers (TensorFlow's
/// `Session::run` may be called concurrently), so its intra-op pool gets the
/// threads ONNX Runtime would spread over `sessions` sessions, and its inter-op
/// pool one thread per worker so their runs proceed side by side.
pub fn session_options(cfg: &ServingConfig) -> Result<SessionOptions, LoadError> {
    let sessions = cfg.sessions.max(1);
    let proto = ConfigProto {
        intra_op_parallelism_threads: i32::try_from(cfg.threads.max(1) * sessions).unwrap_or(i32::MAX),
        inter_op_parallelism_threads: i32::try_from(sessions).unwrap_or(i32::MAX),
    };
    let mut options = SessionOptions::new();
    options
        .set_config(&prost::Message::encode_to_vec(&proto))
        .map_err(|e| LoadError::Runtime(format!("TensorFlow session options: {e}")))?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_thread_fields_with_their_config_proto_numbers() {
        let proto = ConfigProto { intra_op_parallelism_threads: 4, inter_op_parallelism_threads: 2 };
        // field 2 varint 4, field 5 varint 2
        assert_eq!(prost::Message::encode_to_vec(&proto), vec![0x10, 4, 0x28, 2]);
    }
}
