//! Flotilla's controllers: the reconcile loops of Kubernetes' controller manager, the kubelet's
//! pod lifecycle logic, and [`Cluster`](cluster::Cluster), which composes them with the object
//! store and the scheduler.
//!
//! Everything here is pure (DESIGN.md, the sans-IO contract): a controller is a reconcile
//! function over one object key that reads and writes the in-memory
//! [`Store`](flotilla_model::store::Store) at an explicit `now`; the kubelet turns the pods bound
//! to its node into [`RuntimeCommand`](kubelet::RuntimeCommand)s and reads
//! [`RuntimeEvent`](kubelet::RuntimeEvent)s back; [`Cluster`](cluster::Cluster) runs them all
//! to quiescence and tells its driver what to execute and when to wake it.
//!
//! - [`controller`]: the [`Controller`](controller::Controller) trait, [`Context`](controller::Context),
//!   [`Action`](controller::Action), the owner index and the event recorder;
//! - [`workqueue`]: de-duplicating work queue with delayed adds and retry back-off;
//! - [`manager`]: the controller manager;
//! - [`pods`]: pod helpers shared by the workload controllers (and, crate-internal, `claim`:
//!   pod adoption and release);
//! - [`kubelet`]: the per-node kubelet and its runtime contract;
//! - [`testing`]: a harness for testing controllers by hand.

pub(crate) mod claim;
pub mod cluster;
pub mod controller;
pub mod cron_job;
pub mod daemon_set;
pub mod deployment;
pub mod disruption;
pub mod endpoint_slice;
pub mod eviction;
pub mod garbage_collector;
pub mod horizontal_pod_autoscaler;
pub mod job;
pub mod kubelet;
pub mod manager;
pub mod namespace;
pub mod node_lifecycle;
pub mod persistent_volume;
pub mod pod_gc;
pub mod pods;
pub mod proxy;
pub mod replica_set;
pub mod resource_quota;
pub mod service_env;
pub mod stateful_set;
pub mod testing;
pub mod workqueue;
