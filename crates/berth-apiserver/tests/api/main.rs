//! Semantics of berth-apiserver, each through the real `kube` client against
//! a server started on 127.0.0.1:0 inside the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench;
mod common;
mod controller;
mod crd;
mod crud;
mod gc;
mod kubectl;
mod patch;
mod watch;
