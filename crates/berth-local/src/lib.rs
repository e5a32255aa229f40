//! berth-local: everything of a one-machine Kubernetes except the API server
//! (crate `berth-apiserver`): kubelet, controllers, service proxy and the
//! `berth local` CLI's daemon. Every part talks to the API server only through
//! the `kube` client, as real cluster components do.
pub mod cluster;
pub mod controllers;
pub mod error;
pub mod images;
pub mod ipalloc;
pub mod kubelet;
pub mod network;
pub mod procs;
pub mod proxy;

pub use error::{Error, Result};
