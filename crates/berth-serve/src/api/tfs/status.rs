//! Model status, TF Serving's GetModelStatus and `GET /v1/models/{m}[...]`:
//! every version the server knows (newest first, as TF Serving lists them)
//! with its state and, after a failed load, the kept error. The operator
//! reads the REST form for per-version state, load errors and traffic.

use serde_json::{Value, json};

use crate::api::AppState;
use crate::manager::{VersionState, VersionStatus};
use crate::tfs_proto::tensorflow::error::Code;
use crate::tfs_proto::tensorflow::serving::model_version_status::State;
use crate::tfs_proto::tensorflow::serving::{ModelVersionStatus, StatusProto};

use super::{Selector, TfsError};

/// The statuses `selector` asks for: all versions, or the one named.
pub fn select(state: &AppState, model: &str, selector: &Selector) -> Result<Vec<VersionStatus>, TfsError> {
    let manager = state.manager(model).map_err(|_| {
        // TF Serving's GetModelStatus wording.
        TfsError::NotFound(format!("Could not find any versions of model {model}"))
    })?;
    let all = manager.status();
    let wanted = match selector {
        Selector::Latest => return Ok(all.into_iter().rev().collect()),
        Selector::Version(v) => v.clone(),
        Selector::Label(_) => selector.version(state, model)?.unwrap_or_default(),
    };
    all.into_iter()
        .find(|s| s.version.as_str() == wanted)
        .map(|s| vec![s])
        .ok_or_else(|| TfsError::NotFound(format!("Could not find version {wanted} of model {model}")))
}

/// A load error is kept as a message only, so its code is UNKNOWN; a version that
/// loaded but failed its golden set is FAILED_PRECONDITION (`berth_api::golden`).
fn error_of(s: &VersionStatus) -> (Code, &str) {
    match &s.error {
        Some(e) if s.failed_golden_set => (Code::FailedPrecondition, e.as_str()),
        Some(e) => (Code::Unknown, e.as_str()),
        None => (Code::Ok, ""),
    }
}

pub fn to_json(s: &VersionStatus) -> Value {
    let (code, message) = error_of(s);
    json!({
        "version": s.version.to_string(),
        "state": s.state.as_str(),
        "status": { "error_code": code.as_str_name(), "error_message": message },
        // Berth's addition: the share of default traffic this version gets.
        "traffic": s.traffic,
    })
}

fn state_proto(state: VersionState) -> State {
    match state {
        VersionState::Start => State::Start,
        VersionState::Loading => State::Loading,
        VersionState::Available => State::Available,
        VersionState::Unloading => State::Unloading,
        VersionState::End => State::End,
    }
}

/// The gRPC form. A version named rather than numbered (controlled mode
/// allows names) has no int64 and is reported as version 0.
pub fn to_proto(s: &VersionStatus) -> ModelVersionStatus {
    let (code, message) = error_of(s);
    ModelVersionStatus {
        version: s.version.number().and_then(|n| i64::try_from(n).ok()).unwrap_or(0),
        state: state_proto(s.state) as i32,
        status: Some(StatusProto { error_code: code as i32, error_message: message.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::VersionId;

    #[test]
    fn failed_load_keeps_its_message() {
        let s = VersionStatus {
            version: VersionId::from(3),
            state: VersionState::End,
            error: Some("no model.onnx".into()),
            traffic: 0.0,
            failed_golden_set: false,
        };
        let p = to_proto(&s);
        assert_eq!((p.version, p.state), (3, State::End as i32));
        let status = p.status.unwrap();
        assert_eq!(status.error_code, Code::Unknown as i32);
        assert_eq!(status.error_message, "no model.onnx");
        assert_eq!(to_json(&s)["status"]["error_code"], "UNKNOWN");
    }

    #[test]
    fn a_failed_golden_set_is_the_code_the_operator_reads() {
        let s = VersionStatus {
            version: VersionId::from(4),
            state: VersionState::End,
            error: Some("failed the golden set: accuracy 0.1".into()),
            traffic: 0.0,
            failed_golden_set: true,
        };
        assert_eq!(to_json(&s)["status"]["error_code"], berth_api::golden::FAILED_STATUS_CODE);
        assert_eq!(to_proto(&s).status.unwrap().error_code, Code::FailedPrecondition as i32);
    }
}
