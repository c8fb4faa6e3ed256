//! Single-host mode: the pure [`Cluster`](flotilla_controllers::cluster::Cluster) driven on the
//! wall clock with [`LinuxRuntime`](crate::LinuxRuntime) as its one node's runtime, a
//! kubectl-like API on a Unix socket, persistence of the cluster's objects and a userspace
//! Service proxy.

pub mod api;
pub mod authz;
pub mod client;
pub mod driver;
pub mod persist;
pub mod print;
pub mod server;
pub mod streams;
