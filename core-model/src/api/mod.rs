//! The typed API objects, one module per kind, in Kubernetes' shape (`metadata`, `spec`,
//! `status`; camelCase field names) so that the YAML a real cluster accepts reads here too.

pub mod config_map;
pub mod cron_job;
pub mod daemon_set;
pub mod deployment;
pub mod endpoint_slice;
pub mod horizontal_pod_autoscaler;
pub mod job;
pub mod limit_range;
pub mod namespace;
pub mod node;
pub mod persistent_volume;
pub mod persistent_volume_claim;
pub mod pod;
pub mod pod_disruption_budget;
pub mod priority_class;
pub mod rbac;
pub mod replica_set;
pub mod resource_quota;
pub mod secret;
pub mod service;
pub mod stateful_set;
pub mod storage_class;

pub use config_map::*;
pub use cron_job::*;
pub use daemon_set::*;
pub use deployment::*;
pub use endpoint_slice::*;
pub use horizontal_pod_autoscaler::*;
pub use job::*;
pub use limit_range::*;
pub use namespace::*;
pub use node::*;
pub use persistent_volume::*;
pub use persistent_volume_claim::*;
pub use pod::*;
pub use pod_disruption_budget::*;
pub use priority_class::*;
pub use rbac::*;
pub use replica_set::*;
pub use resource_quota::*;
pub use secret::*;
pub use service::*;
pub use stateful_set::*;
pub use storage_class::*;
