//! The pure core: everything the operator decides, as functions of
//! `(spec, status, observations, now)`. Nothing here talks to the network, so it is
//! tested synchronously and a restarted operator decides exactly as before.

pub mod analysis;
pub mod conditions;
pub mod loading;
pub mod observe;
pub mod parse;
pub mod rollout;

pub use observe::{Observations, PodObservation};
pub use rollout::{Decision, Input, Outcome, RolloutEvent, decide};
