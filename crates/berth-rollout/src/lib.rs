//! The rollout engine, pure: every decision is a function of (policy, state,
//! observations, now). It knows nothing of Kubernetes; the operator maps its API types
//! in and out at its edge.
