//! The typed API objects, one module per kind, in Kubernetes' shape (`metadata`, `spec`,
//! `status`; camelCase field names) so that the YAML a real cluster accepts reads here too.

pub mod namespace;
pub mod node;
pub mod pod;
pub mod service;
pub mod config_map;
pub mod secret;
pub mod persistent_volume;
pub mod persistent_volume_claim;
pub mod resource_quota;
pub mod limit_range;
pub mod deployment;
pub mod replica_set;
pub mod daemon_set;
pub mod stateful_set;
pub mod job;
pub mod cron_job;
pub mod horizontal_pod_autoscaler;
pub mod pod_disruption_budget;
pub mod endpoint_slice;
pub mod storage_class;
pub mod priority_class;

pub use namespace::*;
pub use node::*;
pub use pod::*;
pub use service::*;
pub use config_map::*;
pub use secret::*;
pub use persistent_volume::*;
pub use persistent_volume_claim::*;
pub use resource_quota::*;
pub use limit_range::*;
pub use deployment::*;
pub use replica_set::*;
pub use daemon_set::*;
pub use stateful_set::*;
pub use job::*;
pub use cron_job::*;
pub use horizontal_pod_autoscaler::*;
pub use pod_disruption_budget::*;
pub use endpoint_slice::*;
pub use storage_class::*;
pub use priority_class::*;
