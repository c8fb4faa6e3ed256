//! The kubelet: one per node.
pub mod runtime;
pub use runtime::{ProbeKind, RuntimeCommand, RuntimeEvent, StopSignal};
