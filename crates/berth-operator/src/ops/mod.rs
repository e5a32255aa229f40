//! Running the operator: leader election on a Lease (the primitive in `leader`, the
//! stand-by/renew/release cycle in `election`). Health endpoints, logging and signals
//! are berth-runtime's, shared with the other binaries.

pub mod election;
pub mod leader;
