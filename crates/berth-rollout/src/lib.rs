//! The rollout engine, pure: every decision is a function of (spec, state,
//! observations, now). It knows nothing of Kubernetes (no kube, no k8s-openapi, its own
//! [`Time`]); the operator maps its API types in and out at its edge. The types that
//! carry no timestamp (phase, rejection reasons, the traffic table, counters, version
//! reports) are the API's own: berth-api re-exports them.

pub mod analysis;
pub mod conditions;
pub mod engine;
pub mod loading;
pub mod observe;
pub mod policy;
pub mod state;
pub mod time;
pub mod traffic;

pub use conditions::Condition;
pub use engine::{Decision, Input, LOAD_POLL, MAX_REJECTED, Outcome, RolloutEvent, decide, is_rejected};
pub use observe::{Observations, PodObservation, VersionReport, VersionState};
pub use policy::{AnalysisLimits, Policy, Spec, Step};
pub use state::{AnalysisState, CounterSnapshot, LatencyBucket, Phase, RejectedVersion, RejectionReason, RolloutState};
pub use time::Time;
pub use traffic::{TrafficError, TrafficTarget, effective_weights, round_weight, validate_traffic, weight_of};
