//! The in-tree plugins, one module per plugin, named as in kube-scheduler.

pub mod default_binder;
pub mod default_preemption;
pub mod gpu;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod priority_sort;
pub mod registry;
pub mod resource_allocation;
pub mod scheduling_gates;
pub mod taint_toleration;
pub mod volume_binding;
pub mod volume_restrictions;
pub mod volume_zone;

pub use registry::default_registry;

#[cfg(test)]
pub(crate) mod testing;
