//! Flotilla's Linux runtime: runs the kubelet's pods as real processes on one host, isolated
//! with namespaces and limited with cgroups (v2, and v1 where a host still has it).
//!
//! This is the only crate that will contain `unsafe` code and system calls, each behind a trait
//! with a real implementation and a recording fake for tests. It has no public items yet; its
//! content arrives with the runtime-linux issue. The pods it will run are
//! [`flotilla_model::api::Pod`]s.
