//! Running the operator: health and metrics endpoints, leader election.

pub mod http;
pub mod leader;
