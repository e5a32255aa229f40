//! End-to-end scenarios on the local control plane.
