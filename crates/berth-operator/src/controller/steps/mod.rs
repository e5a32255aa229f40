//! The reconcile steps, in the order they run (see the `controller` module doc for why
//! this order). `validate`, `decide` and building the children are pure; `apply`,
//! `observe`, `status` and `report` are the edges that talk to the API server (and,
//! for `observe`, to the pods). Each step has its own input, output and error type.

pub mod apply;
pub mod decide;
pub mod observe;
pub mod report;
pub mod status;
pub mod validate;
