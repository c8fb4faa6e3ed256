//! Flotilla's scheduler: a kube-scheduler-compatible scheduling framework.
//!
//! The framework has kube-scheduler's extension points ([`framework`]) and its compact view of
//! the cluster ([`node_info`], [`snapshot`]); the default plugins reproduce kube-scheduler's
//! formulas. Like [`flotilla_model`], on which it builds, this crate is pure: no clock, no I/O,
//! no global randomness — time and a seeded random stream come in as arguments.

pub mod cache;
pub mod config;
pub mod framework;
pub mod gpu;
pub mod node_info;
pub mod plugins;
pub mod profile;
pub mod queue;
pub mod schedule;
pub mod scheduler;
pub mod score_cache;
pub mod snapshot;
