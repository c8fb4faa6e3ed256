//! The in-tree plugin registry: every default plugin by its kube-scheduler name, constructed
//! from the `args` of a KubeSchedulerConfiguration's `pluginConfig` (kube-scheduler's
//! `NewInTreeRegistry`).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::config::Registry;
use crate::framework::Plugin;

use super::{
    default_binder, default_preemption, gpu, image_locality, inter_pod_affinity, node_affinity,
    node_name, node_ports, node_resources_balanced_allocation, node_resources_fit,
    node_unschedulable, pod_topology_spread, priority_sort, scheduling_gates, taint_toleration,
    volume_binding, volume_restrictions, volume_zone,
};

/// Decodes plugin args: kube-scheduler's defaults when none are given, otherwise the JSON
/// object, strictly — an unknown field is an error, as kube-scheduler's strict decoding makes it
/// (`strict decoding error: unknown field "hardPodAffinityWieght"`).
fn decode<A: DeserializeOwned + Default>(args: &serde_json::Value) -> Result<A, Vec<String>> {
    if args.is_null() {
        return Ok(A::default());
    }
    let mut unknown = Vec::new();
    let decoded: A =
        serde_ignored::deserialize(args.clone(), |path| unknown.push(path.to_string()))
            .map_err(|e| vec![format!("{e}")])?;
    if unknown.is_empty() {
        Ok(decoded)
    } else {
        Err(unknown
            .into_iter()
            .map(|f| format!("strict decoding error: unknown field {f:?}"))
            .collect())
    }
}

fn errors(list: flotilla_model::ErrorList) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// A plugin without args: any args given are an error.
fn no_args(name: &str, args: &serde_json::Value) -> Result<(), Vec<String>> {
    match args {
        serde_json::Value::Null => Ok(()),
        serde_json::Value::Object(m) if m.is_empty() => Ok(()),
        _ => Err(vec![format!("plugin {name} takes no args")]),
    }
}

/// The registry of every in-tree plugin Flotilla has, ready for user plugins to be added with
/// [`Registry::register`].
pub fn default_registry() -> Registry {
    let mut r = Registry::new();
    r.register(scheduling_gates::NAME, |a| {
        no_args(scheduling_gates::NAME, a)?;
        Ok(Arc::new(scheduling_gates::SchedulingGates::new()) as Arc<dyn Plugin>)
    });
    r.register(priority_sort::NAME, |a| {
        no_args(priority_sort::NAME, a)?;
        Ok(Arc::new(priority_sort::PrioritySort::new()) as Arc<dyn Plugin>)
    });
    r.register(node_unschedulable::NAME, |a| {
        no_args(node_unschedulable::NAME, a)?;
        Ok(Arc::new(node_unschedulable::NodeUnschedulable::new()) as Arc<dyn Plugin>)
    });
    r.register(node_name::NAME, |a| {
        no_args(node_name::NAME, a)?;
        Ok(Arc::new(node_name::NodeName::new()) as Arc<dyn Plugin>)
    });
    r.register(taint_toleration::NAME, |a| {
        no_args(taint_toleration::NAME, a)?;
        Ok(Arc::new(taint_toleration::TaintToleration::new()) as Arc<dyn Plugin>)
    });
    r.register(node_affinity::NAME, |a| {
        let args = decode::<node_affinity::NodeAffinityArgs>(a)?;
        Ok(Arc::new(node_affinity::NodeAffinity::new(args).map_err(errors)?) as Arc<dyn Plugin>)
    });
    r.register(node_ports::NAME, |a| {
        no_args(node_ports::NAME, a)?;
        Ok(Arc::new(node_ports::NodePorts::new()) as Arc<dyn Plugin>)
    });
    r.register(node_resources_fit::NAME, |a| {
        let args = decode::<node_resources_fit::NodeResourcesFitArgs>(a)?;
        Ok(
            Arc::new(node_resources_fit::NodeResourcesFit::new(args).map_err(errors)?)
                as Arc<dyn Plugin>,
        )
    });
    r.register(volume_restrictions::NAME, |a| {
        no_args(volume_restrictions::NAME, a)?;
        Ok(Arc::new(volume_restrictions::VolumeRestrictions::new()) as Arc<dyn Plugin>)
    });
    r.register(volume_binding::NAME, |a| {
        let args = decode::<volume_binding::VolumeBindingArgs>(a)?;
        Ok(Arc::new(volume_binding::VolumeBinding::new(args).map_err(errors)?) as Arc<dyn Plugin>)
    });
    r.register(volume_zone::NAME, |a| {
        no_args(volume_zone::NAME, a)?;
        Ok(Arc::new(volume_zone::VolumeZone::new()) as Arc<dyn Plugin>)
    });
    r.register(pod_topology_spread::NAME, |a| {
        let args = decode::<pod_topology_spread::PodTopologySpreadArgs>(a)?;
        Ok(
            Arc::new(pod_topology_spread::PodTopologySpread::new(args).map_err(errors)?)
                as Arc<dyn Plugin>,
        )
    });
    r.register(inter_pod_affinity::NAME, |a| {
        let args = decode::<inter_pod_affinity::InterPodAffinityArgs>(a)?;
        Ok(
            Arc::new(inter_pod_affinity::InterPodAffinity::new(args).map_err(errors)?)
                as Arc<dyn Plugin>,
        )
    });
    r.register(node_resources_balanced_allocation::NAME, |a| {
        let args =
            decode::<node_resources_balanced_allocation::NodeResourcesBalancedAllocationArgs>(a)?;
        let plugin = node_resources_balanced_allocation::NodeResourcesBalancedAllocation::new(args)
            .map_err(errors)?;
        Ok(Arc::new(plugin) as Arc<dyn Plugin>)
    });
    r.register(image_locality::NAME, |a| {
        no_args(image_locality::NAME, a)?;
        Ok(Arc::new(image_locality::ImageLocality::new()) as Arc<dyn Plugin>)
    });
    r.register(default_preemption::NAME, |a| {
        let args = decode::<default_preemption::DefaultPreemptionArgs>(a)?;
        Ok(
            Arc::new(default_preemption::DefaultPreemption::new(args).map_err(errors)?)
                as Arc<dyn Plugin>,
        )
    });
    r.register(default_binder::NAME, |a| {
        no_args(default_binder::NAME, a)?;
        Ok(Arc::new(default_binder::DefaultBinder::new()) as Arc<dyn Plugin>)
    });
    // GPU sharing and the GPU scoring policies of Weng et al. (ATC'23); not in the default
    // profile: a configuration enables them (see plugins/gpu/mod.rs).
    r.register(gpu::NAME, |a| {
        no_args(gpu::NAME, a)?;
        Ok(Arc::new(gpu::OpenGpuShare) as Arc<dyn Plugin>)
    });
    for policy in gpu::Policy::ALL {
        if matches!(policy, gpu::Policy::Fgd | gpu::Policy::Random) {
            continue;
        }
        r.register(policy.plugin_name(), move |a| {
            no_args(policy.plugin_name(), a)?;
            Ok(policy.score_plugin(&Arc::default(), 0))
        });
    }
    r.register(gpu::random::NAME, |a| {
        let args = decode::<gpu::random::RandomScoreArgs>(a)?;
        Ok(Arc::new(gpu::random::RandomScore::new(args.seed)) as Arc<dyn Plugin>)
    });
    r.register(gpu::fgd::NAME, |a| {
        let args = decode::<gpu::fgd::FgdScoreArgs>(a)?;
        let target = gpu::TargetWorkload::new(args.target_workload);
        Ok(Arc::new(gpu::fgd::FgdScore::new(Arc::new(target))) as Arc<dyn Plugin>)
    });
    r
}
