//! Rules of the traffic table that the operator writes and every serving pod obeys:
//! the rollout engine's (berth-rollout), so the engine, the operator and the server's
//! router run one copy.

pub use berth_rollout::traffic::*;
